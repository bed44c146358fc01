"""`acg2vec crawl <site> --base-url http://127.0.0.1:PORT` fills raw/ from the sample site, site by site."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from typer.testing import CliRunner

from acg2vec.beam_pipelines.raw_io import shard_pattern
from acg2vec.cli import app

pytestmark = pytest.mark.integration


def _raw_lines(workdir, source: str, kind: str) -> int:
    import glob
    import gzip

    total = 0
    for path in glob.glob(shard_pattern(str(workdir / "raw" / source), kind)):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            total += sum(1 for _ in fh)
    return total


@pytest.mark.parametrize(
    ("command", "site", "source", "kinds"),
    [
        (["safebooru", "--limit", "40"], "safebooru", "safebooru", {"post": 40}),
        (["moegirl", "--limit", "6"], "moegirl", "moegirl", {"section": None}),
        (["animelist", "--limit", "3"], "jikan", "animelist", {"work": 3, "character": None}),
    ],
)
def test_cli_crawl_fills_raw(workdir, sample_site, command, site, source, kinds):
    args = ["--workdir", str(workdir), "--quiet", "crawl", *command, "--base-url", sample_site.url_for(site)]
    result = CliRunner().invoke(app, [*args, "--no-throttle"])
    assert result.exit_code == 0, result.output
    assert "written" in result.output
    for kind, expected in kinds.items():
        lines = _raw_lines(workdir, source, kind)
        assert lines == expected if expected is not None else lines > 0, (kind, lines)
    assert (workdir / "raw" / source / "manifest.json").is_file()


# -- the crawl command as a user runs it: a process that can be killed, options checked at the edge -------------


def cli(*args: str, workdir, **popen) -> subprocess.Popen:
    """``acg2vec`` (``acg2vec.cli.main``) in its own process."""
    env = {**os.environ, "ACG2VEC_HOME": str(workdir)}
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-c", "from acg2vec.cli import main; main()", *args], env=env,
                            text=True, **popen)  # fmt: skip


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def post_ids(workdir) -> list[int]:
    import glob
    import gzip
    import json

    ids = []
    for path in glob.glob(shard_pattern(str(workdir / "raw" / "safebooru"), "post")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            ids.extend(json.loads(line)["id"] for line in fh)
    return ids


def test_kill_9_of_the_crawl_command_leaves_no_crawler_and_the_rerun_writes_each_id_once(workdir):
    from acg2vec.sample_site import FaultPlan, start_sample_site

    # Pages of 100 posts, each answered late: killed while its second page is on its way.
    with start_sample_site(posts=300, faults=FaultPlan(slow=1, slow_seconds=1.5, paths=("s=post",))) as site:
        args = ["-q", "crawl", "safebooru", "--base-url", site.url_for("safebooru"), "--no-throttle", "--no-files"]
        top = cli(*args, workdir=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: site.faults.injected["slow"] >= 2)
        (crawler,) = psutil.Process(top.pid).children()
        assert "acg2vec.crawlers.runner" in " ".join(crawler.cmdline())
        os.kill(top.pid, signal.SIGKILL)
        top.wait(timeout=30)
        assert top.returncode == -signal.SIGKILL
        wait_until(lambda: not alive(crawler.pid), timeout=40)  # it stops with its parent, whatever killed it
        before = post_ids(workdir)
        assert len(before) < 300

        again = cli(*args, workdir=workdir)
        out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    ids = post_ids(workdir)
    assert sorted(ids) == sorted(p.id for p in site.world.posts) and len(ids) == len(set(ids))
    runs = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())["runs"]
    # The orphan stopped as on Ctrl-C (its job kept, then resumed), not killed half-way.
    assert [r["finish_reason"] for r in runs] == ["shutdown", "finished"]


def test_two_crawls_at_once_the_second_refuses_in_one_sentence(workdir):
    from acg2vec.sample_site import FaultPlan, start_sample_site

    with start_sample_site(posts=300, faults=FaultPlan(slow=1, slow_seconds=4, paths=("s=post",))) as site:
        args = ["crawl", "safebooru", "--base-url", site.url_for("safebooru"), "--no-throttle", "--no-files"]
        first = cli("-q", *args, workdir=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: site.faults.injected["slow"] >= 1)
            (crawler,) = psutil.Process(first.pid).children()
            second = cli(*args, workdir=workdir)
            out, err = second.communicate(timeout=180)
            assert alive(crawler.pid)  # the first crawl was running all along
        finally:
            first.terminate()
            first.wait(timeout=60)
    assert second.returncode != 0 and "Traceback" not in err
    assert f"another safebooru crawl is running in {workdir} (pid {crawler.pid}, started " in " ".join(err.split())


def test_a_crawl_robots_txt_forbids_exits_non_zero_saying_so(workdir):
    from acg2vec.sample_site import start_sample_site

    with start_sample_site(posts=3) as site:
        run = cli("crawl", "safebooru", "--base-url", site.base_url + "/private/safebooru", "--no-throttle",
                  workdir=workdir)  # fmt: skip
        out, err = run.communicate(timeout=120)
    assert run.returncode != 0 and "Traceback" not in err
    assert "forbids" in err and "robots.txt" in err and "network-error" not in out + err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["safebooru", "--limit", "-1"], "--limit"),
        (["safebooru", "--min-id", "-5"], "--min-id"),
        (["safebooru", "--min-id", "50", "--max-id", "10"], "min_id 50 is above max_id 10"),
        (["bangumi", "--subject-type", "-1"], "--subject-type"),
        (["wikipedia", "--depth", "-1"], "--depth"),
        (["moegirl", "--limit", "-2"], "--limit"),
        (["animelist", "--limit", "-3"], "--limit"),
    ],
)
def test_bad_numbers_are_refused_before_any_crawl(workdir, args, says):
    run = cli("crawl", *args, "--base-url", "http://127.0.0.1:9", workdir=workdir)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "Traceback" not in err
    assert says in " ".join(err.split())
    assert not (workdir / "raw").exists()

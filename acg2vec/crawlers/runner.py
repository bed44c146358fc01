"""Run one spider against a workspace, in a child process.

Twisted's reactor cannot be restarted within one process, and tests and the demo crawl many times, so each
crawl runs in ``python -m acg2vec.crawlers.runner <spec.json>``, where Scrapy's own CrawlerProcess, settings
and stats collector do the work. The child writes the run's :class:`~acg2vec.crawlers.feeds.CrawlReport`
to ``raw/<source>/manifest.json`` and to a report file the parent reads back.

Stopping and resuming: :meth:`CrawlHandle.stop` sends SIGTERM, which Scrapy treats like Ctrl-C (finish the
requests in flight, close the feeds, keep the pending requests in ``jobs/<source>/``, Scrapy's JOBDIR). The
next run of the same spider resumes from there. A run that ends any other way deletes its job directory,
so the next run starts afresh (and skips the items it already has, see the pipelines).

A hard kill (SIGKILL, a crash of the machine) loses the feed batches still open (they are written under temporary
names, renamed only when closed, and the next run removes them: see :mod:`acg2vec.crawlers.shards`, which also
checks every shard against the manifest before a run and moves damaged ones aside), while the job directory
already counts their pages as done, so resuming from it would leave gaps. Each run therefore marks its job
directory while it runs (``RUNNING_MARKER``) and removes the mark however it ends cleanly, stop included. A
run that finds the mark knows the last one died hard: it discards that job directory and walks the site
again, writing only the items missing from ``raw/<source>/`` (the already-have pipeline), so nothing is
lost or duplicated. ``fresh=True`` (``--fresh``) does the same on request.

One crawl per job: the child takes an exclusive ``flock`` on ``jobs/<source>.lock`` before it touches the job
or raw folders, so a second crawl of the same source in the same workdir refuses in one sentence naming the
running one (pid, start time). The kernel releases the lock of a process that died, so a stale lock file is
simply taken over. The child dies with its parent, whatever kills the parent: on Linux it asks the kernel for
SIGTERM when the parent goes (``prctl(PR_SET_PDEATHSIG)``: Scrapy then stops as on Ctrl-C and keeps its job
for the next run), and everywhere a watchdog thread does the same when the parent pid changes, ending the
process for good if the graceful stop hangs.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acg2vec.crawlers import settings as default_settings
from acg2vec.crawlers.feeds import DISK_FULL_STAT, CrawlReport, update_manifest
from acg2vec.crawlers.settings import job_dir, run_settings
from acg2vec.crawlers.shards import check_shards
from acg2vec.crawlers.spider_args import SpiderArgs
from acg2vec.deadletter import dead_letter_path
from acg2vec.errors import UserError
from acg2vec.integrity import DiskFullError, atomic_write_json, atomic_write_text
from acg2vec.workspace import Workspace, is_remote

RUNNING_MARKER = "acg2vec-running"  # in the job dir while a crawl runs; left behind only by a hard kill
LOCK_SUFFIX = ".lock"  # jobs/<source>.lock: held (flock) by the running crawl of that source
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_GRACE_S = 30.0  # how long an orphaned crawl may take to stop gracefully before it is killed


@dataclass(slots=True)
class CrawlSpec:
    """Everything the child process needs to run one crawl (written as JSON)."""

    name: str
    workspace: str
    run_id: str
    report_path: str
    base_url: str | None = None
    # The spider's arguments with their JSON types (numbers, booleans, lists); the spider parses them into its Args.
    spider_args: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    http_cache: bool = False
    throttle: bool = True
    quiet: bool = False
    batch_items: int | None = None
    fresh: bool = False
    parent_pid: int | None = None
    death_signal: bool = False  # the child asked the kernel for SIGTERM when the parent dies


def new_run_id() -> str:
    """A sortable, unique id that names this run's feed shards (UTC time plus a random suffix)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{uuid.uuid4().hex[:8]}"


class CrawlHandle:
    """A crawl running in a child process."""

    def __init__(self, spec: CrawlSpec, process: subprocess.Popen, tmpdir: str) -> None:
        self.spec = spec
        self.process = process
        self._tmpdir = tmpdir

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Ask the crawl to stop gracefully (like Ctrl-C); it can be resumed by running the spider again."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """End the crawl at once (SIGKILL); feed batches still open are lost."""
        if self.running:
            self.process.kill()

    def wait(self, timeout: float | None = None) -> CrawlReport:
        """Wait for the end of the crawl and return its report (UserError if it failed to run)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait()
        try:
            path = Path(self.spec.report_path)
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        if data is None:
            raise UserError(
                f"the {self.spec.name} crawl ended without a report (exit code {self.process.returncode})."
            )
        if "error" in data:
            raise UserError(data["error"], exit_code=data.get("exit_code"))
        return CrawlReport.from_dict(data)


def start_spider(
    name: str,
    *,
    workspace: Workspace,
    base_url: str | None = None,
    spider_args: SpiderArgs | dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    http_cache: bool = False,
    throttle: bool = True,
    quiet: bool = False,
    fresh: bool = False,
    batch_items: int | None = None,
) -> CrawlHandle:
    """Start spider ``name`` in a child process; ``fresh`` discards a stopped crawl instead of resuming it.

    ``spider_args``: the spider's ``Args`` (checked already), or a dict of them that the spider checks.
    """
    if is_remote(workspace.root):
        # Dead letters, the manifest, the job dir and the already-have scan work on local files.
        raise UserError("crawls write to a local workdir; copy raw/ to remote storage after the crawl.")
    workspace.ensure()
    tmpdir = tempfile.mkdtemp(prefix="acg2vec-crawl-")
    spec = CrawlSpec(
        name=name,
        workspace=workspace.root,
        run_id=new_run_id(),
        report_path=str(Path(tmpdir, "report.json")),
        base_url=base_url,
        spider_args=spider_args.given() if isinstance(spider_args, SpiderArgs) else dict(spider_args or {}),
        settings=dict(settings or {}),
        http_cache=http_cache,
        throttle=throttle,
        quiet=quiet,
        batch_items=batch_items,
        # Discarding the job happens in the child, once it holds the job's lock (never under a running crawl).
        fresh=fresh,
        parent_pid=os.getpid(),
    )
    preexec = _die_with_parent()
    spec.death_signal = preexec is not None
    spec_path = Path(tmpdir, "spec.json")
    atomic_write_json(spec_path, _spec_dict(spec))
    process = subprocess.Popen([sys.executable, "-m", "acg2vec.crawlers.runner", str(spec_path)], preexec_fn=preexec)
    return CrawlHandle(spec, process, tmpdir)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to send the child SIGTERM when this process dies (None elsewhere).

    libc and prctl are looked up here, before the fork: the child runs only the call itself.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def run_spider(
    name: str,
    *,
    workspace: Workspace,
    base_url: str | None = None,
    spider_args: SpiderArgs | dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float | None = None,
    **options: Any,
) -> CrawlReport:
    """Run spider ``name`` to its end in a child process and return its report (see :func:`start_spider`)."""
    handle = start_spider(
        name, workspace=workspace, base_url=base_url, spider_args=spider_args, settings=settings, **options
    )
    return handle.wait(timeout=timeout)


def _spec_dict(spec: CrawlSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


# -- the child process ------------------------------------------------------------------------------------


def lock_path(workspace: Workspace, source: str) -> Path:
    """``jobs/<source>.lock``: beside the job folder, which a run may delete and make again."""
    return Path(job_dir(workspace, source) + LOCK_SUFFIX)


class JobLock:
    """An exclusive ``flock`` on ``jobs/<source>.lock`` for the life of this process; its text names the holder."""

    def __init__(self, path: Path, *, name: str, workdir: str) -> None:
        self.path = path
        self.name = name
        self.workdir = workdir
        self.fd: int | None = None

    def acquire(self) -> JobLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(
                f"another {self.name} crawl is running in {self.workdir} "
                f"(pid {holder.get('pid', '?')}, started {holder.get('started_at', '?')}); "
                "wait for it to end or stop it before starting this one."
            ) from None
        # The lock of a process that died went with it: whatever the file says is stale, so it is overwritten.
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.write(fd, json.dumps(info).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def watch_parent(
    parent_pid: int, *, interval: float = 0.5, grace: float = ORPHAN_GRACE_S, death_signal: bool = False
) -> threading.Thread:
    """Stop this process (SIGTERM, then SIGKILL after ``grace`` s) once ``parent_pid`` is no longer its parent.

    ``death_signal``: the kernel already sends SIGTERM when the parent dies (``PR_SET_PDEATHSIG``); a second
    SIGTERM would turn Scrapy's graceful stop into a forced one, so the watchdog only enforces the grace period.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        logging.getLogger(__name__).warning("the acg2vec process that started this crawl is gone; stopping")
        if not death_signal:
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="acg2vec-parent-watchdog", daemon=True)
    thread.start()
    return thread


def count_files(root: str | Path) -> int:
    """Files under ``root`` (the downloaded images under ``raw/<source>/files``)."""
    total = 0
    for _dirpath, _dirnames, filenames in os.walk(root):
        total += len(filenames)
    return total


def _crawl(spec: CrawlSpec) -> CrawlReport:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings
    from scrapy.spiderloader import get_spider_loader

    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    try:
        spider_cls = get_spider_loader(settings).load(spec.name)
    except KeyError:
        raise UserError(f"there is no spider named {spec.name!r}.") from None
    source = getattr(spider_cls, "source", None) or spec.name
    workspace = Workspace(spec.workspace)
    per_run = run_settings(
        workspace=workspace,
        source=source,
        run_id=spec.run_id,
        batch_items=spec.batch_items,
        http_cache=spec.http_cache,
        throttle=spec.throttle,
        quiet=spec.quiet,
    )
    settings.setdict(per_run, priority="cmdline")
    settings.setdict(spec.settings, priority="cmdline")
    # Before anything touches the job or raw folders: one crawl per source and workdir.
    lock = JobLock(lock_path(workspace, source), name=spec.name, workdir=workspace.root).acquire()
    Path(workspace.raw(source)).mkdir(parents=True, exist_ok=True)
    # Damaged shards go aside before the crawl reads what it already has, so their items are fetched again.
    check = check_shards(workspace.raw(source), run_id=spec.run_id, command=repair_command(spec))
    check.dead_letter(dead_letter_path(workspace.raw(source), spec.name), step=spec.name)
    jobs = Path(job_dir(workspace, source))
    if spec.fresh:
        shutil.rmtree(jobs, ignore_errors=True)
    marker = jobs / RUNNING_MARKER
    if marker.exists():
        logging.getLogger(__name__).warning(
            "the last %s crawl was killed before it could save its state; walking the site again "
            "(items already in %s are skipped)",
            spec.name,
            workspace.raw(source),
        )
        shutil.rmtree(jobs, ignore_errors=True)
    jobs.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, spec.run_id)

    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider_cls)
    kwargs = dict(spec.spider_args)
    if spec.base_url:
        kwargs["base_url"] = spec.base_url
    failures: list[Any] = []
    process.crawl(crawler, **kwargs).addErrback(failures.append)
    process.start()

    if failures:
        # The spider refused its arguments (or failed to open): one sentence, not a traceback.
        raise UserError(f"the {spec.name} crawl could not start: {failures[0].getErrorMessage()}")
    stats = dict(crawler.stats.get_stats())
    if stats.get(DISK_FULL_STAT):
        # Stopped on a full disk: the open shards were dropped whole; the marker stays, so the next run (with
        # space freed) walks the site again and writes only what is missing.
        raise DiskFullError(stats[DISK_FULL_STAT])
    report = CrawlReport.from_stats(stats, spider=spec.name, source=source, run_id=spec.run_id)
    report.cpu_s = round(float(stats.get("acg2vec/cpu_seconds", 0.0)), 3)
    files_dir = Path(workspace.raw(source), "files")
    if files_dir.is_dir():
        report.files_on_disk = count_files(files_dir)
    book = getattr(crawler, "acg2vec_bookkeeping", None)
    check.finish(report, book.damaged if book is not None else [])
    update_manifest(workspace.raw(source), report)
    marker.unlink(missing_ok=True)  # a clean end, a stop included: the job dir (if kept) can be resumed
    if report.finish_reason != "shutdown":
        shutil.rmtree(jobs, ignore_errors=True)
    lock.release()
    forbidden = int(stats.get("robotstxt/forbidden", 0))
    if forbidden and report.items_read == 0:
        raise UserError(
            f"robots.txt of {spec.base_url or 'the site'} forbids what the {spec.name} crawl asked for "
            f"({forbidden} request(s) refused); acg2vec obeys robots.txt, so nothing was crawled."
        )
    if report.requests and not report.responses and report.items_read == 0:
        # Not one answer (connection refused, DNS, timeouts) after the retries: a wrong --base-url or no network.
        raise UserError(
            f"the {spec.name} crawl got no answer from {spec.base_url or 'the site'} "
            f"({report.requests} request(s) failed, see {dead_letter_path(workspace.raw(source), spec.name)}); "
            "check --base-url and the network."
        )
    return report


def repair_command(spec: CrawlSpec) -> str:
    """The command that crawls this source again (what restores a damaged shard's items)."""
    if spec.name == "pixiv" and spec.spider_args.get("from_dir"):
        return f"acg2vec crawl pixiv --from {spec.spider_args['from_dir']}"
    return f"acg2vec crawl {spec.name}"


def main(argv: list[str] | None = None) -> int:
    """Child process entry point: ``python -m acg2vec.crawlers.runner SPEC.json``."""
    args = sys.argv[1:] if argv is None else argv
    data = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    spec = CrawlSpec(**data)
    report_path = Path(spec.report_path)
    if spec.parent_pid is not None:
        watch_parent(spec.parent_pid, death_signal=spec.death_signal)
    try:
        report = _crawl(spec)
    except UserError as err:
        atomic_write_json(report_path, {"error": str(err), "exit_code": err.exit_code})
        return err.exit_code
    atomic_write_json(report_path, report.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())

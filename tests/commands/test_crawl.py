"""`acg2vec crawl <site> --base-url http://127.0.0.1:PORT` fills raw/ from the sample site, site by site."""

from __future__ import annotations

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

"""Wikipedia: the per-language site data, and whole crawls of the sample site's three editions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.crawlers.spiders.wikipedia import SITES, WikipediaSpider


@pytest.mark.unit
def test_each_language_has_its_site_data() -> None:
    for lang, title_key in (("zh", "zh-Hans"), ("ja", "ja"), ("en", "en")):
        spider = WikipediaSpider(lang=lang)
        assert spider.base_url == f"https://{lang}.wikipedia.org"
        assert spider.site is SITES[lang] and spider.site.title_key == title_key
        assert spider.api_url(action="parse").startswith(f"https://{lang}.wikipedia.org/w/api.php?action=parse")
    assert "参考文献" in SITES["zh"].boilerplate_headings and "外部リンク" in SITES["ja"].boilerplate_headings
    assert not WikipediaSpider(lang="ja").is_main_namespace("ファイル:x.png")
    assert WikipediaSpider(lang="en").is_main_namespace("Re:Zero − Starting Life in Another World")


@pytest.mark.unit
def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="lang must be one of"):
        WikipediaSpider(lang="fr")


def _rows(raw: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.mark.integration
@pytest.mark.parametrize("lang", ["zh", "ja", "en"])
def test_whole_crawl_of_the_sample_site(workdir: Path, lang: str) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    site = start_sample_site(seed=0, posts=10)
    try:
        report = run_spider(
            "wikipedia", workspace=Workspace.at(workdir), base_url=site.url_for(f"wikipedia/{lang}"),
            spider_args={"lang": lang, "limit": 4}, throttle=False, quiet=True, timeout=120,
        )  # fmt: skip
        world = site.world
    finally:
        site.stop()
    raw = workdir / "raw" / "wikipedia"
    sections, works = _rows(raw, "section"), _rows(raw, "work")
    assert report.finish_reason == "finished" and report.dropped == {}
    assert report.written.get("section") == len(sections) > 0
    titles = {w.wiki_titles.get(lang) for w in world.works}
    assert {s["title"] for s in sections} <= titles | {None}
    assert all(s["language"] == lang and s["text"] for s in sections)
    for work in works:
        assert work["ids"][f"wiki:{lang}"] in titles
        expected = next(w for w in world.works if w.wiki_titles.get(lang) == work["ids"][f"wiki:{lang}"])
        for other, title in expected.wiki_titles.items():
            if other != lang:
                assert work["ids"].get(f"wiki:{other}") == title


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl", "wikipedia", "--lang", "fr"], "lang must be one of zh, ja, en, not 'fr'"),
        (["crawl", "animelist", "--mode", "xml"], "mode must be jikan or html"),
    ],
)
def test_cli_mistakes_are_user_errors(workdir: Path, args: list[str], message: str) -> None:
    """The spider's own ``Args`` refuses the value, in the command's process, before any crawl starts."""
    from typer.testing import CliRunner

    from acg2vec.cli import app
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UserError) and message in str(result.exception)
    assert not (workdir / "raw").exists()


@pytest.mark.unit
def test_a_negative_limit_is_refused_by_the_option(workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["crawl", "moegirl", "--limit", "-2"])
    assert result.exit_code == 2 and "--limit" in result.output


@pytest.mark.integration
def test_cli_crawls_one_edition(workdir: Path, sample_site) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from acg2vec.cli import app

    base = sample_site.url_for("wikipedia/en")
    result = CliRunner().invoke(
        app, ["-q", "crawl", "wikipedia", "--lang", "en", "--base-url", base, "--limit", "2", "--no-throttle"]
    )
    assert result.exit_code == 0, result.output
    assert "wikipedia: finished" in result.output
    assert int(table_row(result.output, "written", "section")) > 0 and table_row(result.output, "written", "work")
    assert list((workdir / "raw" / "wikipedia").glob("section-*.jsonl.gz"))


@pytest.mark.integration
@pytest.mark.slow
def test_crawl_through_every_fault_mode_loses_nothing(workdir: Path) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.faults import FaultPlan
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    def crawl(root: Path, faults: FaultPlan | None) -> tuple[object, list[dict], dict]:
        site = start_sample_site(seed=0, posts=10, faults=faults)
        try:
            report = run_spider(
                "wikipedia", workspace=Workspace.at(root), base_url=site.url_for("wikipedia/zh"),
                spider_args={"lang": "zh", "limit": 4}, throttle=False, quiet=True, timeout=300,
            )  # fmt: skip
            return report, _rows(root / "raw" / "wikipedia", "section"), dict(site.faults.injected)
        finally:
            site.stop()

    plan = FaultPlan(rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, retry_after=0, every=2)
    clean, clean_rows, _ = crawl(workdir / "clean", None)
    faulty, faulty_rows, injected = crawl(workdir / "faulty", plan)
    assert set(injected) == {"rate_limit", "server_error", "truncated", "cut_json", "html_error"}
    assert faulty.retries > 0 and faulty.written == clean.written
    assert set(faulty.bad_input) <= {"namespace", "disambiguation"} and faulty.bad_input == clean.bad_input
    key = lambda r: (r["source_id"], r["text"])  # noqa: E731
    assert sorted(map(key, faulty_rows)) == sorted(map(key, clean_rows))


def table_row(output: str, label: str, what: str) -> str | None:
    """The count in the row ``label | what | n`` of the crawl report table the CLI prints."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[:2] == [label, what]:
            return cells[2]
    return None

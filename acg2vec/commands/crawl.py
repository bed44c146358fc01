"""``acg2vec crawl <site>``: one command per site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from acg2vec.commands.state import state, workspace
from acg2vec.errors import UserError

app = typer.Typer(no_args_is_help=True)


# Options every crawl command takes.
_THROTTLE = typer.Option(True, help="AutoThrottle and polite delays (turn off only for a local site).")
_HTTP_CACHE = typer.Option(False, help="Cache responses under the workdir (for development).")
_FRESH = typer.Option(False, help="Discard a stopped crawl instead of resuming it.")
# The MediaWiki crawls (wikipedia, moegirl) share these.
_WIKI_TITLE = typer.Option(None, help="Page title to read (repeatable).")
_WIKI_LIST_PAGE = typer.Option(None, help="List page whose linked articles are read (repeatable).")
_WIKI_DEPTH = typer.Option(0, min=0, help="Sub-category levels to follow.")
_WIKI_LIMIT = typer.Option(0, help="Pages at most (0: all).")


def print_report(report: Any) -> None:  # a CrawlReport, imported lazily
    """The counts of a crawl as a rich table on stdout, with where its files are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.spider}: {report.finish_reason or 'not finished'} in {report.elapsed_s:.1f} s")
    table.add_column("count")
    table.add_column("what")
    table.add_column("n", justify="right")
    for kind, n in report.written.items():
        table.add_row("written", kind, str(n))
    for label, counts in (("dropped", report.dropped), ("skipped", report.skipped), ("bad input", report.bad_input)):
        for reason, n in counts.items():
            table.add_row(label, reason, str(n))
    table.add_row("items", "read = written + dropped + skipped", str(report.items_read))
    table.add_row("http", "requests / responses / errors / retries",
                  f"{report.requests} / {report.responses} / {report.errors} / {report.retries}")  # fmt: skip
    if report.files_downloaded or report.files_on_disk:
        table.add_row("files", "downloaded (checked) by this run", str(report.files_downloaded))
        table.add_row("files", "on disk", str(report.files_on_disk))
    console = Console()
    console.print(table)
    if report.finish_reason == "shutdown":
        console.print("Stopped before the end: run the same command again to resume.", highlight=False)


@app.command("safebooru", help="Crawl posts, tags and image files from Safebooru or any Gelbooru-0.2 site.")
def safebooru(
    base_url: str = typer.Option("https://safebooru.org", help="Site root (may carry a path prefix)."),
    limit: int = typer.Option(0, help="Posts at most (0: all)."),
    tags: str = typer.Option("", help='Tag query, as on the site: "1girl solo -comic".'),
    min_id: int = typer.Option(None, min=0, help="Only posts with an id of at least this."),
    max_id: int = typer.Option(None, min=0, help="Only posts with an id of at most this."),
    format: str = typer.Option("json", help="DAPI answer format: json or xml."),
    tag_list: str = typer.Option("seen", help="Tags to fetch: seen (those of the crawled posts), all, or none."),
    sample: bool = typer.Option(False, "--sample/--original", help="Download the sample rendition, not the original."),
    files: bool = typer.Option(True, "--files/--no-files", help="Download the image files (md5 checked)."),
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    from acg2vec.crawlers.runner import run_spider

    if format not in ("json", "xml"):
        raise UserError(f"--format must be json or xml, not {format!r}.")
    if tag_list not in ("seen", "all", "none"):
        raise UserError(f"--tag-list must be seen, all or none, not {tag_list!r}.")
    if limit < 0:
        raise UserError("--limit must be 0 (no limit) or more.")
    if min_id is not None and max_id is not None and min_id > max_id:
        raise UserError(f"--min-id {min_id} is above --max-id {max_id}: no post can match.")
    args = {"tags": tags, "format": format, "tag_list": tag_list, "limit": limit or None,
            "min_id": min_id, "max_id": max_id}  # fmt: skip
    report = run_spider(
        "safebooru",
        workspace=workspace(),
        base_url=base_url,
        spider_args={k: v for k, v in args.items() if v is not None},
        settings={"ACG2VEC_DOWNLOAD_FILES": files, "ACG2VEC_FILES_RENDITION": "sample" if sample else "original"},
        throttle=throttle,
        http_cache=http_cache,
        fresh=fresh,
        quiet=state.quiet,
    )
    print_report(report)


@app.command(
    "bangumi", help="Crawl Bangumi subjects, characters and voice actors through API v0 (or import the Archive dump)."
)
def bangumi(
    base_url: str = typer.Option("https://api.bgm.tv", help="API root (may carry a path prefix)."),
    limit: int = typer.Option(0, help="Subjects at most (0: all)."),
    ids: str = typer.Option(None, help="Comma-separated subject ids to crawl instead of browsing."),
    subject_type: int = typer.Option(
        2, min=0, help="Subject type: 1 book, 2 anime, 3 music, 4 game, 6 real (with --archive, 0 imports every type)."
    ),
    characters: bool = typer.Option(True, help="Also crawl the subjects' characters and their voice actors."),
    archive: Path = typer.Option(None, help="Import this Bangumi Archive zip instead of crawling the API."),
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    if archive is not None:
        from acg2vec.crawlers.bangumi_archive import ArchiveImportConfig, import_archive

        config = ArchiveImportConfig(
            subject_types=(subject_type,) if subject_type else (), limit=limit or None, characters=characters
        )
        print_report(import_archive(archive, workspace=workspace(), config=config))
        return
    args = {"subject_type": subject_type, "characters": "1" if characters else "0"}
    if ids:
        args["ids"] = ids
    _crawl("bangumi", base_url=base_url, limit=limit, args=args, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command("wikipedia", help="Crawl Wikipedia (zh, ja, en) pages through the MediaWiki Action API.")
def wikipedia(
    lang: str = typer.Option("zh", help="Language edition: zh, ja or en."),
    base_url: str = typer.Option(None, help="Site root of that edition (default https://<lang>.wikipedia.org)."),
    category: list[str] = typer.Option(
        None, help="Category to walk (repeatable; default: the edition's anime category)."
    ),
    title: list[str] = _WIKI_TITLE,
    list_page: list[str] = _WIKI_LIST_PAGE,
    depth: int = _WIKI_DEPTH,
    limit: int = _WIKI_LIMIT,
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    if lang not in ("zh", "ja", "en"):
        raise UserError(f"--lang must be zh, ja or en, not {lang!r}.")
    args = _wiki_args(category=category, title=title, list_page=list_page, depth=depth)
    args["lang"] = lang
    _crawl("wikipedia", base_url=base_url or f"https://{lang}.wikipedia.org", limit=limit, args=args,
           throttle=throttle, http_cache=http_cache, fresh=fresh)  # fmt: skip


@app.command("moegirl", help="Crawl moegirl pages through the MediaWiki Action API.")
def moegirl(
    base_url: str = typer.Option("https://zh.moegirl.org.cn", help="Site root."),
    category: list[str] = typer.Option(None, help="Category to walk (repeatable; default: 日本动画)."),
    title: list[str] = _WIKI_TITLE,
    list_page: list[str] = _WIKI_LIST_PAGE,
    depth: int = _WIKI_DEPTH,
    limit: int = _WIKI_LIMIT,
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    args = _wiki_args(category=category, title=title, list_page=list_page, depth=depth)
    _crawl("moegirl", base_url=base_url, limit=limit, args=args, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command("animelist", help="Crawl MyAnimeList anime, characters and voice actors through the Jikan v4 API.")
def animelist(
    base_url: str = typer.Option(
        None,
        help="Jikan API root (default https://api.jikan.moe/v4), or with --mode html "
        "the MyAnimeList root (default https://myanimelist.net).",
    ),
    mode: str = typer.Option("jikan", help="jikan (the API) or html (MyAnimeList's own anime pages)."),
    limit: int = typer.Option(0, help="Anime at most (0: all)."),
    ids: str = typer.Option(None, help="Comma-separated anime ids to crawl instead of browsing."),
    characters: bool = typer.Option(True, help="Also crawl characters and voice actors (Jikan mode)."),
    throttle: bool = typer.Option(True, help="Jikan's rate limits and AutoThrottle (turn off only for a local site)."),
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    if mode not in ("jikan", "html"):
        raise UserError(f"--mode must be jikan or html, not {mode!r}.")
    default = "https://api.jikan.moe/v4" if mode == "jikan" else "https://myanimelist.net"
    args = {"mode": mode, "characters": "1" if characters else "0"}
    if ids:
        args["ids"] = ids
    _crawl("animelist", base_url=base_url or default, limit=limit, args=args, throttle=throttle,
           http_cache=http_cache, fresh=fresh)  # fmt: skip


@app.command("pixiv", help="Import saved pixiv illust metadata (tag translations and popularity).")
def pixiv(
    from_dir: Path = typer.Option(
        ...,
        "--from",
        help="Folder of saved pixiv responses (*.json, any depth): AJAX /ajax/illust/{id} bodies, search and "
        "bookmark responses (their tagTranslation maps), app-API illust objects.",
    ),
    language: str = typer.Option(
        None,
        help="Language of the pixiv client that saved app-API responses (their translated_name is in it): "
        "en, ja, zh, zh_tw, ko. Without it, each translation's language is told from its script.",
    ),
) -> None:
    from acg2vec.crawlers.pixiv import APP_LANGUAGES
    from acg2vec.crawlers.runner import run_spider

    if not from_dir.is_dir():
        raise UserError(f"--from {from_dir} is not a folder.")
    if language is not None and language not in APP_LANGUAGES:
        raise UserError(f"--language must be one of en, ja, zh, zh_tw, ko (not {language!r}).")
    args = {"from_dir": str(from_dir.resolve())}
    if language:
        args["app_language"] = language
    report = run_spider(
        "pixiv", workspace=workspace(), spider_args=args, throttle=False,
        quiet=state.quiet,
    )  # fmt: skip
    print_report(report)


# -- shared by the API crawl commands (bangumi, wikipedia, moegirl, animelist) ------------------------------


def _wiki_args(
    *, category: list[str] | None, title: list[str] | None, list_page: list[str] | None, depth: int
) -> dict:
    args: dict[str, str | int] = {"depth": depth}
    # The spider takes "|"-separated lists, as the MediaWiki API does.
    for name, values in (("category", category), ("title", title), ("list_page", list_page)):
        if values:
            args[name] = "|".join(values)
    return args


def _crawl(name: str, *, base_url: str, limit: int, args: dict, throttle: bool, http_cache: bool, fresh: bool) -> None:
    """Run one spider in its child process, then print what it wrote and dropped."""
    from acg2vec.crawlers.runner import run_spider

    if limit < 0:
        raise UserError("--limit must be 0 (no limit) or more.")
    if limit:
        args = {**args, "limit": limit}
    report = run_spider(
        name, workspace=workspace(), base_url=base_url, spider_args=args, throttle=throttle,
        http_cache=http_cache, fresh=fresh, quiet=state.quiet,
    )  # fmt: skip
    print_report(report)

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
_WIKI_DEPTH = typer.Option(None, min=0, help="Sub-category levels to follow (default 0).")
# Every crawl's cap on what it counts (posts, subjects, pages, anime).
_LIMIT = typer.Option(None, min=0, help="At most this many (posts, subjects, pages or anime; 0 or none: all).")


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
    http = f"{report.requests} / {report.responses} / {report.errors} / {report.retries}"
    table.add_row("http", "requests / responses / errors / retries", http)
    if report.files_downloaded or report.files_on_disk:
        table.add_row("files", "downloaded (checked) by this run", str(report.files_downloaded))
        table.add_row("files", "on disk", str(report.files_on_disk))
    console = Console()
    console.print(table)
    for entry in getattr(report, "damaged", None) or []:
        # The one sentence of each damaged file this run found, and how many of its items came back.
        restored = entry.get("restored")
        back = f" This run wrote {restored} of its {entry['items_lost']} items again." if restored is not None else ""
        console.print(f"{entry['sentence']}{back}", highlight=False, markup=False, soft_wrap=True)
    if report.finish_reason == "shutdown":
        console.print("Stopped before the end: run the same command again to resume.", highlight=False)


@app.command("safebooru", help="Crawl posts, tags and image files from Safebooru or any Gelbooru-0.2 site.")
def safebooru(
    base_url: str = typer.Option(None, help="Site root, may carry a path prefix (default: safebooru.org)."),
    limit: int = _LIMIT,
    tags: str = typer.Option(None, help='Tag query, as on the site: "1girl solo -comic".'),
    min_id: int = typer.Option(None, min=0, help="Only posts with an id of at least this."),
    max_id: int = typer.Option(None, min=0, help="Only posts with an id of at most this."),
    format: str = typer.Option(None, help="DAPI answer format: json (default) or xml."),
    tag_list: str = typer.Option(
        None, help="Tags to fetch: seen (those of the crawled posts; default), all, or none."
    ),
    sample: bool = typer.Option(False, "--sample/--original", help="Download the sample rendition, not the original."),
    files: bool = typer.Option(True, "--files/--no-files", help="Download the image files (md5 checked)."),
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    from acg2vec.crawlers.spiders.booru import BooruArgs

    args = _spider_args(
        BooruArgs,
        base_url=base_url,
        limit=limit,
        tags=tags,
        format=format,
        tag_list=tag_list,
        min_id=min_id,
        max_id=max_id,
    )
    files_settings = {"ACG2VEC_DOWNLOAD_FILES": files, "ACG2VEC_FILES_RENDITION": "sample" if sample else "original"}
    _crawl("safebooru", args, settings=files_settings, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command(
    "bangumi", help="Crawl Bangumi subjects, characters and voice actors through API v0 (or import the Archive dump)."
)
def bangumi(
    base_url: str = typer.Option(None, help="API root, may carry a path prefix (default: api.bgm.tv)."),
    limit: int = _LIMIT,
    ids: str = typer.Option(None, help="Comma-separated subject ids to crawl instead of browsing."),
    subject_type: int = typer.Option(
        None,
        min=0,
        help="Subject type: 1 book, 2 anime (default), 3 music, 4 game, 6 real (with --archive, 0 imports every type).",
    ),
    characters: bool = typer.Option(
        None, "--characters/--no-characters", help="Also crawl the subjects' characters and their voice actors."
    ),
    archive: Path = typer.Option(None, help="Import this Bangumi Archive zip instead of crawling the API."),
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    if archive is not None:
        from acg2vec.commands.options import apply_overrides
        from acg2vec.crawlers.bangumi_archive import ArchiveImportConfig, import_archive

        types = None if subject_type is None else (subject_type,) if subject_type else ()
        config = apply_overrides(
            ArchiveImportConfig(), subject_types=types, limit=limit or None, characters=characters
        )
        print_report(import_archive(archive, workspace=workspace(), config=config))
        return
    from acg2vec.crawlers.spiders.bangumi import BangumiArgs

    args = _spider_args(
        BangumiArgs, base_url=base_url, limit=limit, ids=_ids(ids), subject_type=subject_type, characters=characters
    )
    _crawl("bangumi", args, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command("wikipedia", help="Crawl Wikipedia (zh, ja, en) pages through the MediaWiki Action API.")
def wikipedia(
    lang: str = typer.Option(None, help="Language edition: zh (default), ja or en."),
    base_url: str = typer.Option(None, help="Site root of that edition (default https://<lang>.wikipedia.org)."),
    category: list[str] = typer.Option(
        None, help="Category to walk (repeatable; default: the edition's anime category)."
    ),
    title: list[str] = _WIKI_TITLE,
    list_page: list[str] = _WIKI_LIST_PAGE,
    depth: int = _WIKI_DEPTH,
    limit: int = _LIMIT,
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    from acg2vec.crawlers.spiders.wikipedia import WikipediaArgs

    args = _spider_args(
        WikipediaArgs,
        base_url=base_url,
        limit=limit,
        lang=lang,
        category=tuple(category) if category else None,
        title=tuple(title) if title else None,
        list_page=tuple(list_page) if list_page else None,
        depth=depth,
    )
    _crawl("wikipedia", args, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command("moegirl", help="Crawl moegirl pages through the MediaWiki Action API.")
def moegirl(
    base_url: str = typer.Option(None, help="Site root (default: zh.moegirl.org.cn)."),
    category: list[str] = typer.Option(None, help="Category to walk (repeatable; default: 日本动画)."),
    title: list[str] = _WIKI_TITLE,
    list_page: list[str] = _WIKI_LIST_PAGE,
    depth: int = _WIKI_DEPTH,
    limit: int = _LIMIT,
    throttle: bool = _THROTTLE,
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    from acg2vec.crawlers.spiders.mediawiki import MediaWikiArgs

    args = _spider_args(
        MediaWikiArgs,
        base_url=base_url,
        limit=limit,
        category=tuple(category) if category else None,
        title=tuple(title) if title else None,
        list_page=tuple(list_page) if list_page else None,
        depth=depth,
    )
    _crawl("moegirl", args, throttle=throttle, http_cache=http_cache, fresh=fresh)


@app.command("animelist", help="Crawl MyAnimeList anime, characters and voice actors through the Jikan v4 API.")
def animelist(
    base_url: str = typer.Option(
        None,
        help="Jikan API root (default https://api.jikan.moe/v4), or with --mode html "
        "the MyAnimeList root (default https://myanimelist.net).",
    ),
    mode: str = typer.Option(None, help="jikan (the API; default) or html (MyAnimeList's own anime pages)."),
    limit: int = _LIMIT,
    ids: str = typer.Option(None, help="Comma-separated anime ids to crawl instead of browsing."),
    characters: bool = typer.Option(
        None, "--characters/--no-characters", help="Also crawl characters and voice actors (Jikan mode)."
    ),
    throttle: bool = typer.Option(True, help="Jikan's rate limits and AutoThrottle (turn off only for a local site)."),
    http_cache: bool = _HTTP_CACHE,
    fresh: bool = _FRESH,
) -> None:
    from acg2vec.crawlers.spiders.animelist import AnimeListArgs

    args = _spider_args(AnimeListArgs, base_url=base_url, limit=limit, mode=mode, ids=_ids(ids), characters=characters)
    _crawl("animelist", args, throttle=throttle, http_cache=http_cache, fresh=fresh)


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
    from acg2vec.crawlers.pixiv import PixivArgs

    args = _spider_args(PixivArgs, from_dir=str(from_dir.resolve()), app_language=language)
    _crawl("pixiv", args, throttle=False, http_cache=False, fresh=False)


# -- shared by the crawl commands -----------------------------------------------------------------------------


def _spider_args(cls: type, **given: Any) -> Any:
    """The spider's typed arguments from the options given (the spider's ``Args`` owns the defaults), checked
    by ``Args.check`` before any crawl starts."""
    try:
        return cls(**{name: value for name, value in given.items() if value is not None})
    except ValueError as err:
        raise UserError(f"{err}.") from None


def _ids(text: str | None) -> tuple[int, ...] | None:
    """``--ids 1,2,3`` as a tuple of ints (None when not given)."""
    if text is None:
        return None
    try:
        return tuple(int(i) for i in text.replace(" ", "").split(",") if i)
    except ValueError:
        raise UserError(f"--ids takes comma-separated numbers, not {text!r}.") from None


def _crawl(
    name: str, args: Any, *, throttle: bool, http_cache: bool, fresh: bool, settings: dict | None = None
) -> None:
    """Run one spider in its child process, then print what it wrote and dropped."""
    from acg2vec.crawlers.runner import run_spider

    report = run_spider(
        name,
        workspace=workspace(),
        spider_args=args,
        settings=settings,
        throttle=throttle,
        http_cache=http_cache,
        fresh=fresh,
        quiet=state.quiet,
    )
    print_report(report)

"""``acg2vec crawl <site>``: one command per site."""

from __future__ import annotations

import typer

from acg2vec.errors import NotBuiltYet

app = typer.Typer(no_args_is_help=True)


@app.command("safebooru", help="Crawl posts, tags and image files from Safebooru or any Gelbooru-0.2 site.")
def safebooru(base_url: str = typer.Option("https://safebooru.org", help="Site root.")) -> None:
    raise NotBuiltYet("crawl safebooru")


@app.command("bangumi", help="Crawl Bangumi subjects, characters and voice actors through API v0.")
def bangumi(base_url: str = typer.Option("https://api.bgm.tv", help="API root.")) -> None:
    raise NotBuiltYet("crawl bangumi")


@app.command("wikipedia", help="Crawl Wikipedia (zh, ja, en) pages through the MediaWiki Action API.")
def wikipedia(base_url: str = typer.Option(None, help="Site root (one wiki).")) -> None:
    raise NotBuiltYet("crawl wikipedia")


@app.command("moegirl", help="Crawl moegirl pages through the MediaWiki Action API.")
def moegirl(base_url: str = typer.Option("https://zh.moegirl.org.cn", help="Site root.")) -> None:
    raise NotBuiltYet("crawl moegirl")


@app.command("animelist", help="Crawl MyAnimeList anime, characters and voice actors through the Jikan v4 API.")
def animelist(base_url: str = typer.Option("https://api.jikan.moe/v4", help="API root.")) -> None:
    raise NotBuiltYet("crawl animelist")


@app.command("pixiv", help="Import saved pixiv illust metadata (tag translations and popularity).")
def pixiv(from_dir: str = typer.Option(..., "--from", help="Folder of saved illust JSON bodies.")) -> None:
    raise NotBuiltYet("crawl pixiv")

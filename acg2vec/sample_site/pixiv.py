"""pixiv AJAX ``/ajax/illust/{id}`` bodies for the booru posts whose source is a pixiv artwork.

pixiv's API needs a login, so acg2vec imports saved bodies instead of crawling; the sample site writes such
bodies to a folder (one ``<illust id>.json`` each) in the real shape: ``body.tags.tags[]`` with ``tag``,
``romaji`` and ``translation``, and the popularity fields ``viewCount``, ``bookmarkCount``, ``likeCount``,
``sl`` and ``xRestrict``. Each illust's tags are the Japanese names of what its booru post shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acg2vec.integrity import atomic_write_text
from acg2vec.sample_site.world import Post, World

# Booru general tag parts -> (ja, zh-Hans, romaji)
_COLOURS = {
    "red": ("赤", "红色", "aka"),
    "blue": ("青", "蓝色", "ao"),
    "green": ("緑", "绿色", "midori"),
    "yellow": ("黄色", "黄色", "kiiro"),
    "white": ("白", "白色", "shiro"),
    "black": ("黒", "黑色", "kuro"),
    "purple": ("紫", "紫色", "murasaki"),
    "pink": ("ピンク", "粉色", "pinku"),
    "orange": ("オレンジ", "橙色", "orenji"),
    "grey": ("灰色", "灰色", "haiiro"),
}
_SHAPES = {
    "circle": ("丸", "圆形", "maru"),
    "star": ("星", "星星", "hoshi"),
    "square": ("四角", "正方形", "shikaku"),
    "triangle": ("三角", "三角形", "sankaku"),
    "heart": ("ハート", "爱心", "haato"),
    "hexagon": ("六角形", "六边形", "rokkakukei"),
    "cross": ("十字", "十字", "juuji"),
    "stripes": ("ストライプ", "条纹", "sutoraipu"),
    "polka_dots": ("水玉", "波点", "mizutama"),
    "frame": ("枠", "边框", "waku"),
}


def pixiv_tag(booru_tag: str) -> tuple[str, str, str, str] | None:
    """(ja tag, en translation, zh translation, romaji) of a booru general tag, or None when pixiv has no tag for it."""
    if booru_tag in _SHAPES:
        ja, zh, romaji = _SHAPES[booru_tag]
        return ja, booru_tag.replace("_", " "), zh, romaji
    colour, _, rest = booru_tag.partition("_")
    if colour in _COLOURS and rest == "background":
        ja, zh, romaji = _COLOURS[colour]
        return f"{ja}背景", f"{colour} background", f"{zh}背景", f"{romaji}haikei"
    return None


def _popularity(post: Post) -> tuple[int, int, int]:
    """Views, bookmarks and likes: they grow with the post's score, so a model has something to learn."""
    score = post.score if post.score is not None else 5
    views = 800 + score * 420 + (post.id * 37) % 900
    bookmarks = views // 12 + score * 9
    likes = int(bookmarks * 1.1) + post.id % 17
    return views, bookmarks, likes


def illust_body(world: World, post: Post) -> dict[str, Any]:
    """The ``/ajax/illust/{id}`` answer for a post with a pixiv source."""
    assert post.pixiv_id is not None
    illust_id = str(post.pixiv_id)
    author_id = str(300000 + post.drawing.artist * 1111)
    artist = post.artist_tags[0]
    views, bookmarks, likes = _popularity(post)
    tags = _tag_rows(world, post, author_id, artist, bookmarks)
    sl, x_restrict = {"general": (2, 0), "sensitive": (4, 0), "questionable": (6, 1), "explicit": (6, 1)}[post.rating]
    created = post.created_at.isoformat()
    works = {w.copyright_tag: w for w in world.works if w.copyright_tag}
    title = f"{works[post.copyright_tags[0]].titles['ja'] if post.copyright_tags else 'らくがき'} {post.id}"
    urls = _image_urls(post, illust_id)
    alt_tags = ", ".join(t["tag"] for t in tags[:3])
    body: dict[str, Any] = {
        "illustId": illust_id,
        "illustTitle": title,
        "illustComment": "サンプルのイラストです。",
        "id": illust_id,
        "title": title,
        "description": "サンプルのイラストです。",
        "illustType": 0,
        "createDate": created,
        "uploadDate": created,
        "restrict": 0,
        "xRestrict": x_restrict,
        "sl": sl,
        "urls": urls,
        "tags": {"authorId": author_id, "isLocked": False, "tags": tags, "writable": True},
        "alt": f"{alt_tags} / {title}",
        "userId": author_id,
        "userName": artist,
        "userAccount": artist,
        "userIllusts": {illust_id: None},
        "likeData": False,
        "width": post.width,
        "height": post.height,
        "pageCount": 1,
        "bookmarkCount": bookmarks,
        "likeCount": likes,
        "commentCount": post.id % 23,
        "responseCount": 0,
        "viewCount": views,
        "bookStyle": 0,
        "isHowto": False,
        "isOriginal": not post.copyright_tags,
        "imageResponseOutData": [],
        "imageResponseData": [],
        "imageResponseCount": 0,
        "pollData": None,
        "seriesNavData": None,
        "descriptionBoothId": None,
        "descriptionYoutubeId": None,
        "comicPromotion": None,
        "fanboxPromotion": None,
        "contestBanners": [],
        "isBookmarkable": True,
        "bookmarkData": None,
        "contestData": None,
        "zoneConfig": _ad_zones(illust_id),
        "extraData": _extra_data(illust_id, title, alt_tags, tags[0]["tag"], artist, urls["regular"]),
        "titleCaptionTranslation": {"workTitle": None, "workCaption": None},
        "isUnlisted": False,
        "request": None,
        "commentOff": 0,
        "aiType": 1,
        "reuploadDate": None,
        "locationMask": False,
        "commissionLinkHidden": False,
        "isLoginOnly": False,
    }
    return {"error": False, "message": "", "body": body}


def _tag_rows(world: World, post: Post, author_id: str, artist: str, bookmarks: int) -> list[dict[str, Any]]:
    """The post's pixiv tags: its works and characters (locked, by the author), known general tags, milestones."""
    tags: list[dict[str, Any]] = []

    def add(tag: str, en: str | None, zh: str | None, romaji: str | None, *, locked: bool) -> None:
        row: dict[str, Any] = {"tag": tag, "locked": locked, "deletable": not locked}
        if locked:
            row.update({"userId": author_id, "userName": artist})
        if romaji:
            row["romaji"] = romaji
        if en or zh:
            row["translation"] = {k: v for k, v in (("en", en), ("zh", zh)) if v}
        tags.append(row)

    characters = {c.booru_tag: c for c in world.characters if c.booru_tag}
    works = {w.copyright_tag: w for w in world.works if w.copyright_tag}
    for tag in post.copyright_tags:
        work = works[tag]
        add(work.titles["ja"], work.titles["en"], work.titles["zh-Hans"], work.titles["ja-Latn"].lower(), locked=True)
    if not post.copyright_tags:
        add("オリジナル", "original", "原创", "orijinaru", locked=True)
    for tag in post.character_tags:
        character = characters[tag]
        add(
            character.names["ja"].replace(" ", ""),
            character.names["en"],
            character.names["zh-Hans"],
            character.names["ja-Latn"].lower().replace(" ", ""),
            locked=True,
        )
    for tag in post.general_tags:
        known = pixiv_tag(tag)
        if known:
            add(known[0], known[1], known[2], known[3], locked=False)
    if bookmarks >= 1000:
        add("1000users入り", "1000 users", "1000收藏", "1000yu-za-zuiri", locked=False)
    return tags


def _image_urls(post: Post, illust_id: str) -> dict[str, str]:
    stamp = post.created_at.strftime("%Y/%m/%d/%H/%M/%S")
    return {
        "mini": f"https://i.pximg.net/c/48x48/img-master/img/{stamp}/{illust_id}_p0_square1200.jpg",
        "thumb": f"https://i.pximg.net/c/250x250_80_a2/img-master/img/{stamp}/{illust_id}_p0_square1200.jpg",
        "small": f"https://i.pximg.net/c/540x540_70/img-master/img/{stamp}/{illust_id}_p0_master1200.jpg",
        "regular": f"https://i.pximg.net/img-master/img/{stamp}/{illust_id}_p0_master1200.jpg",
        "original": f"https://i.pximg.net/img-original/img/{stamp}/{illust_id}_p0.{post.ext}",
    }


AD_ZONES = ("responsive", "rectangle", "500x500", "header", "footer", "expandedFooter", "logo", "ad_logo",
            "relatedworks")  # fmt: skip


def _ad_zones(illust_id: str) -> dict[str, dict[str, str]]:
    return {zone: {"url": f"https://ads.example.net/show?zone_id={zone}&illust_id={illust_id}"} for zone in AD_ZONES}


def _extra_data(illust_id: str, title: str, alt_tags: str, first_tag: str, artist: str, image: str) -> dict:
    """The page's meta block: titles, canonical and alternate links, OpenGraph and Twitter cards."""
    return {
        "meta": {
            "title": f"{alt_tags} / {title} - pixiv",
            "description": f"この作品 「{title}」 は 「{first_tag}」 等のタグがつけられた「{artist}」さんのイラストです。",
            "canonical": f"https://www.pixiv.net/en/artworks/{illust_id}",
            "alternateLanguages": {
                "ja": f"https://www.pixiv.net/artworks/{illust_id}",
                "en": f"https://www.pixiv.net/en/artworks/{illust_id}",
            },
            "descriptionHeader": f"{alt_tags} are the most prominent tags for this work.",
            "ogp": {"description": "", "image": image, "title": f"{alt_tags} / {title} - pixiv", "type": "article"},
            "twitter": {"description": "", "image": image, "title": title, "card": "summary_large_image"},
        }
    }


def write_pixiv_exports(world: World, directory: str | Path) -> list[Path]:
    """Write ``<illust id>.json`` for every post with a pixiv source; returns the files written."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for post in world.pixiv_posts:
        path = out_dir / f"{post.pixiv_id}.json"
        atomic_write_text(path, json.dumps(illust_body(world, post), ensure_ascii=False, indent=1))
        written.append(path)
    return written

"""Safebooru (Gelbooru 0.2) as the sample site serves it: the DAPI post and tag lists, and the image files.

``/index.php?page=dapi&s=post&q=index`` answers XML, or with ``json=1`` the JSON array Safebooru sends
(slashes escaped, ratings as words, some null scores, an empty body past the last page). ``tags`` takes
plain tags, ``-tag``, ``rating:``, ``id:<N`` / ``id:>N`` / ``id:<=N`` / ``id:>=N`` / ``id:N`` and
``sort:id:asc|desc``; the default order is newest first. Paging deeper than ``max_offset`` answers the
plain-text "Too deep!" message as Gelbooru does, so a whole-site crawl must walk an id cursor.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from acg2vec.crawlers.items import normalize_rating
from acg2vec.sample_site.illustrations import (
    ImageCache,
    has_sample,
    sample_size,
    thumbnail_size,
)
from acg2vec.sample_site.messages import Request, Response, json_response, not_found, text_response
from acg2vec.sample_site.world import Post, World

TOO_DEEP = "Too deep! Pull it back some. Holy fuck."
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TAG_TYPE_NUMBERS = {"general": 0, "artist": 1, "copyright": 3, "character": 4, "meta": 5}
_ID_TERM = re.compile(r"^id:(<=|>=|<|>|=)?(\d+)$")
_FILE_PATH = re.compile(r"^/(images|samples|thumbnails)/(\d+)/(?:sample_|thumbnail_)?([0-9a-f]{32})\.(jpg|jpeg|png)$")

ROBOTS_TXT = """User-agent: *
Disallow: /index.php?page=account
Disallow: /index.php?page=favorites
Disallow: /private/
"""


def directory_of(post: Post) -> int:
    """The ``directory`` number a Gelbooru-0.2 site files a post's images under."""
    return post.id // 100


class BooruSite:
    """Answers the ``/safebooru`` part of the sample site."""

    def __init__(self, world: World, images: ImageCache, *, max_offset: int = 200) -> None:
        self.world = world
        self.images = images
        self.max_offset = max_offset
        self.posts_desc = sorted(world.posts, key=lambda p: p.id, reverse=True)
        counts = world.tag_counts()
        self.tags = [(i + 1, name, *counts[name]) for i, name in enumerate(sorted(counts))]  # (id, name, cat, count)

    # ------------------------------------------------------------------------------------------ routing

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return text_response(ROBOTS_TXT)
        if request.path in ("/index.php", "/"):
            if request.arg("page") == "dapi" and request.arg("q") == "index":
                if request.arg("s") == "post":
                    return self.post_index(request)
                if request.arg("s") == "tag":
                    return self.tag_index(request)
            return text_response("<html><body><h1>Safebooru sample</h1></body></html>", content_type="text/html")
        match = _FILE_PATH.match(request.path)
        if match:
            return self.file(*match.groups())
        return not_found()

    # ------------------------------------------------------------------------------------------ posts

    def select_posts(self, tags: str) -> list[Post]:
        """Posts matching a tag query, in the query's order."""
        terms = tags.split()
        posts = self.posts_desc
        descending = True
        for term in terms:
            term_l = term.lower()
            if term_l.startswith("sort:"):
                _, _, rest = term_l.partition(":")
                field_, _, direction = rest.partition(":")
                if field_ == "id":
                    descending = direction != "asc"
                continue
            match = _ID_TERM.match(term_l)
            if match:
                op, value = match.group(1) or "=", int(match.group(2))
                posts = [p for p in posts if _compare(p.id, op, value)]
            elif term_l.startswith("rating:"):
                wanted = normalize_rating(term_l.split(":", 1)[1])
                posts = [p for p in posts if p.rating == wanted]
            elif term_l.startswith("-"):
                posts = [p for p in posts if term_l[1:] not in p.tags]
            elif term_l.startswith("md5:"):
                posts = [p for p in posts if self.images.original(p).md5 == term_l[4:]]
            elif term_l.startswith("parent:"):
                posts = [p for p in posts if str(p.parent_id) == term_l[7:]]
            else:
                posts = [p for p in posts if term_l in p.tags]
        return posts if descending else list(reversed(posts))

    def post_index(self, request: Request) -> Response:
        limit = min(max(request.int_arg("limit", DEFAULT_LIMIT), 0), MAX_LIMIT)
        pid = max(request.int_arg("pid", 0), 0)
        as_json = request.arg("json") == "1"
        if pid * limit > self.max_offset:
            return text_response(TOO_DEEP, content_type="text/html; charset=utf-8")
        if request.arg("id"):
            post = self.world.by_post_id.get(request.int_arg("id", -1))
            selected = [post] if post else []
        else:
            selected = self.select_posts(request.arg("tags", "") or "")
        page = selected[pid * limit : (pid + 1) * limit]
        base = request.base_url
        if as_json:
            if not page:
                # Safebooru answers an empty body, not "[]", past the last page.
                return Response(body=b"", content_type="application/json; charset=utf-8")
            return json_response([self.post_json(p, base) for p in page], escape_slashes=True)
        body = "".join(self.post_xml(p, base) for p in page)
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><posts count="{len(selected)}" offset="{pid * limit}">'
            f"{body}</posts>"
        )
        return text_response(text, content_type="text/xml; charset=utf-8")

    def urls(self, post: Post, base: str) -> tuple[str, str, str]:
        """file_url, sample_url, preview_url of a post."""
        md5 = self.images.original(post).md5
        directory = directory_of(post)
        file_url = f"{base}/images/{directory}/{md5}.{post.ext}"
        sample_url = (
            f"{base}/samples/{directory}/sample_{md5}.jpg" if has_sample(post.width, post.height) else file_url
        )
        preview_url = f"{base}/thumbnails/{directory}/thumbnail_{md5}.jpg"
        return file_url, sample_url, preview_url

    def post_json(self, post: Post, base: str) -> dict:
        """One post as Safebooru's JSON has it (key order included)."""
        md5 = self.images.original(post).md5
        file_url, sample_url, preview_url = self.urls(post, base)
        sampled = has_sample(post.width, post.height)
        sample_w, sample_h = sample_size(post.width, post.height) if sampled else (0, 0)
        return {
            "preview_url": preview_url,
            "sample_url": sample_url,
            "file_url": file_url,
            "directory": directory_of(post),
            "hash": md5,
            "width": post.width,
            "height": post.height,
            "id": post.id,
            "image": f"{md5}.{post.ext}",
            "change": post.change,
            "owner": post.owner,
            "parent_id": post.parent_id or 0,
            "rating": post.rating,
            "sample": sampled,
            "sample_height": sample_h,
            "sample_width": sample_w,
            "score": post.score,
            "tags": " ".join(post.tags),
            "source": post.source,
            "status": "active",
            "has_notes": False,
            "comment_count": (post.id * 7) % 4,
        }

    def post_xml(self, post: Post, base: str) -> str:
        """One ``<post/>`` element with Gelbooru-0.2's attributes."""
        md5 = self.images.original(post).md5
        file_url, sample_url, preview_url = self.urls(post, base)
        sample_w, sample_h = sample_size(post.width, post.height)
        preview_w, preview_h = thumbnail_size(post.width, post.height)
        attrs = {
            "height": post.height,
            "score": "" if post.score is None else post.score,
            "file_url": file_url,
            "parent_id": post.parent_id or "",
            "sample_url": sample_url,
            "sample_width": sample_w,
            "sample_height": sample_h,
            "preview_url": preview_url,
            "rating": post.rating,
            "tags": f" {' '.join(post.tags)} ",
            "id": post.id,
            "width": post.width,
            "change": post.change,
            "md5": md5,
            "creator_id": 1000 + len(post.owner),
            "has_children": str(post.has_children).lower(),
            "created_at": post.created_at.strftime("%a %b %d %H:%M:%S %z %Y"),
            "status": "active",
            "source": post.source,
            "has_notes": "false",
            "has_comments": "false",
            "preview_width": preview_w,
            "preview_height": preview_h,
        }
        return "<post " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + "/>\n"

    # ------------------------------------------------------------------------------------------ tags

    def tag_index(self, request: Request) -> Response:
        limit = min(max(request.int_arg("limit", DEFAULT_LIMIT), 0), MAX_LIMIT)
        pid = max(request.int_arg("pid", 0), 0)
        tags = self.tags
        if request.arg("name"):
            tags = [t for t in tags if t[1] == request.arg("name")]
        if request.arg("names"):
            wanted = set((request.arg("names") or "").split())
            tags = [t for t in tags if t[1] in wanted]
        if request.arg("name_pattern"):
            pattern = re.escape(request.arg("name_pattern") or "").replace("%", ".*").replace("_", ".")
            tags = [t for t in tags if re.fullmatch(pattern, t[1])]
        if request.arg("id"):
            tags = [t for t in tags if t[0] == request.int_arg("id", -1)]
        if request.arg("after_id"):
            tags = [t for t in tags if t[0] > request.int_arg("after_id", 0)]
        order_by = (request.arg("orderby") or "id").lower()
        key = {"name": lambda t: t[1], "count": lambda t: t[3]}.get(order_by, lambda t: t[0])
        tags = sorted(tags, key=key, reverse=(request.arg("order") or "").upper() == "DESC")
        page = tags[pid * limit : (pid + 1) * limit]
        if request.arg("json") == "1":
            if not page:
                return Response(body=b"")
            rows = [
                {"type": TAG_TYPE_NUMBERS[cat], "count": count, "name": name, "ambiguous": False, "id": tag_id}
                for tag_id, name, cat, count in page
            ]
            return json_response(rows, escape_slashes=True)
        body = "".join(
            f'<tag type="{TAG_TYPE_NUMBERS[cat]}" count="{count}" name={quoteattr(name)} ambiguous="false" id="{tag_id}"/>'
            for tag_id, name, cat, count in page
        )
        return text_response(
            f'<?xml version="1.0" encoding="UTF-8"?><tags type="array">{body}</tags>',
            content_type="text/xml; charset=utf-8",
        )

    # ------------------------------------------------------------------------------------------ files

    def file(self, kind: str, directory: str, md5: str, ext: str) -> Response:
        for post in self.world.posts:
            if directory_of(post) != int(directory) or self.images.original(post).md5 != md5:
                continue
            if kind == "images":
                if ext != post.ext:
                    break
                rendition = self.images.original(post)
                content_type = "image/png" if post.ext == "png" else "image/jpeg"
            elif kind == "samples":
                if not has_sample(post.width, post.height):
                    break
                rendition, content_type = self.images.sample(post), "image/jpeg"
            else:
                rendition, content_type = self.images.thumbnail(post), "image/jpeg"
            return Response(body=rendition.data, content_type=content_type)
        return not_found()


def _compare(value: int, op: str, other: int) -> bool:
    return {
        "<": value < other,
        ">": value > other,
        "<=": value <= other,
        ">=": value >= other,
        "=": value == other,
    }[op]

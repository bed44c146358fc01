"""The Gelbooru-0.2 DAPI base spider (Safebooru and its family); each site is a :class:`BooruSite`.

Posts: ``index.php?page=dapi&s=post&q=index&limit=N&tags=<query> id:<CURSOR sort:id:desc`` (``json=1`` for
JSON, XML otherwise). Deep ``pid`` paging is capped on these sites, so the walk goes down an id cursor: each
page's smallest id is the next page's ``id:<`` bound, until a page is empty (``[]``, an empty ``<posts>`` or,
as Safebooru answers, a blank body). ``min_id`` / ``max_id`` bound the walk, ``limit`` caps the posts.

Tags: with ``tag_list="seen"`` (the default) the tags of the crawled posts are looked up by name,
``s=tag&q=index&names=a b c``; with ``"all"`` the whole tag list is walked by id, ``s=tag&q=index&after_id=N``;
``"none"`` skips tags. The DAPI tag list answers in XML: ``<tag type= count= name= id=/>``.

A page the spider cannot read (an HTML error page with status 200, a body cut short, broken JSON / XML) is
retried with backoff like an HTTP error, then counted under ``acg2vec/bad_input/<reason>`` and dead-lettered.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from acg2vec.crawlers.items import BOORU_TAG_TYPES, TAG_CATEGORIES, Post, Tag
from acg2vec.crawlers.loaders import BooruPostLoader, BooruTagLoader, to_int
from acg2vec.crawlers.spiders.apibase import ApiArgs, ApiSpider

MAX_URL = 1800


@dataclass(frozen=True, slots=True)
class BooruSite:
    """What differs between two Gelbooru-0.2 sites."""

    source: str
    default_base_url: str
    # Older Gelbooru-0.2 sites rate with s / q / e, where "s" meant safe (= general).
    legacy_letters: bool = True
    page_size: int = 100  # the DAPI allows up to 1000; small pages keep a retry cheap
    tag_batch: int = 100  # tag names per lookup request


class NotReadable(ValueError):
    """A page body that is neither a page of records nor the blank end-of-list answer."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def read_records(body: bytes, *, element: str) -> list[dict[str, Any]]:
    """The records of a DAPI page, JSON or XML, as dicts; ``[]`` for a blank body or an empty list.

    ``element`` is the XML element name of one record (``post`` or ``tag``). Raises :class:`NotReadable`.
    """
    text = body.strip()
    if not text:
        return []
    head = text[:1]
    if head in (b"[", b"{"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise NotReadable("bad-json", str(err)) from None
        if isinstance(data, dict):
            # Gelbooru 0.2.5 wraps JSON pages: {"@attributes": {...}, "post": [...]}; an empty page lacks the key.
            data = data.get(element, [])
            data = [data] if isinstance(data, dict) else data
        if not isinstance(data, list):
            raise NotReadable("bad-json", f"expected a list, got {type(data).__name__}")
        # An entry that is not an object stays, wrapped, so the spider counts it as a record without an id.
        return [r if isinstance(r, dict) else {"not_an_object": r} for r in data]
    if head == b"<":
        if text[:200].lower().lstrip().startswith((b"<!doctype html", b"<html")):
            raise NotReadable("html-instead-of-data", text[:200].decode("utf-8", "replace"))
        try:
            root = ET.fromstring(text)
        except ET.ParseError as err:
            raise NotReadable("bad-xml", str(err)) from None
        if root.tag == "response" and root.get("success", "").lower() == "false":
            raise NotReadable("api-error", root.get("reason") or (root.text or "").strip())
        return [dict(node.attrib) for node in root.iter(element)]
    raise NotReadable("not-json-or-xml", text[:200].decode("utf-8", "replace"))


@dataclass(frozen=True)
class BooruArgs(ApiArgs):
    """``limit`` counts posts; ``tags`` is the site's own query ("1girl solo -comic")."""

    tags: str = ""
    min_id: int | None = None  # only posts with an id of at least this
    max_id: int | None = None  # only posts with an id of at most this
    format: str = "json"  # the DAPI answer format: json or xml
    tag_list: str = "seen"  # seen (the tags of the crawled posts), all (the whole list) or none
    page_size: int | None = None  # posts per page (default: the site's)

    def check(self) -> None:
        super().check()
        if self.format not in ("json", "xml"):
            raise ValueError(f"format must be json or xml, not {self.format!r}")
        if self.tag_list not in ("seen", "all", "none"):
            raise ValueError(f"tag_list must be seen, all or none, not {self.tag_list!r}")
        for name in ("min_id", "max_id"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.min_id is not None and self.max_id is not None and self.min_id > self.max_id:
            raise ValueError(f"min_id {self.min_id} is above max_id {self.max_id}: no post can match")
        if self.page_size is not None and self.page_size < 1:
            raise ValueError(f"page_size must be 1 or more, not {self.page_size}")


class BooruSpider(ApiSpider):
    """Posts down an id cursor, tags by name or the whole list, for one :class:`BooruSite`."""

    Args: ClassVar[type[BooruArgs]] = BooruArgs
    args: BooruArgs
    site: BooruSite

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tags = " ".join(self.args.tags.split())
        self.page_size = self.args.page_size or self.site.page_size
        self.looked_up: set[str] = set()

    # -- URLs ---------------------------------------------------------------------------------------------

    def dapi_url(self, **params: Any) -> str:
        query = {"page": "dapi", **{k: v for k, v in params.items() if v is not None}}
        return self.join("index.php") + "?" + urlencode(query)

    def posts_url(self, cursor: int | None) -> str:
        terms = [self.tags] if self.tags else []
        if cursor is not None:
            terms.append(f"id:<{cursor}")
        if self.args.min_id is not None:
            terms.append(f"id:>={self.args.min_id}")
        terms.append("sort:id:desc")
        json_flag = 1 if self.args.format == "json" else None
        return self.dapi_url(s="post", q="index", limit=self.page_size, tags=" ".join(terms), json=json_flag)

    def tag_names_url(self, names: list[str]) -> str:
        return self.dapi_url(s="tag", q="index", limit=len(names), names=" ".join(names))

    def tag_list_url(self, after_id: int) -> str:
        return self.dapi_url(s="tag", q="index", limit=self.site.tag_batch * 10, after_id=after_id, order="ASC")

    def post_page_url(self, post_id: int) -> str:
        return self.join("index.php") + "?" + urlencode({"page": "post", "s": "view", "id": post_id})

    # -- requests -----------------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        cursor = self.args.max_id + 1 if self.args.max_id is not None else None
        if not self.limit_reached(self.tally("posts_done")):
            yield self.request(self.posts_url(cursor), self.parse_posts)
        if self.args.tag_list == "all":
            yield self.request(self.tag_list_url(0), self.parse_tag_list)

    def retry_unreadable(self, response: Response, err: NotReadable) -> Iterator[scrapy.Request]:
        """Retry an unreadable page (with backoff) a few times; then count and dead-letter it."""
        retry = self.retry_page(response, err.reason, detail=err.detail, record=response.text[:1000])
        if retry is not None:
            yield retry

    # -- posts --------------------------------------------------------------------------------------------

    def parse_posts(self, response: Response, cursor: int | None = None) -> Iterator[Any]:
        try:
            records = read_records(response.body, element="post")
        except NotReadable as err:
            yield from self.retry_unreadable(response, err)
            return
        if not records:
            self.logger.info("end of posts at %s", response.url)
            return
        posts: list[Post] = []
        for record in records:
            post = self.post_from_record(record, response)
            if post is not None:
                posts.append(post)
        ids = [to_int(r.get("id")) for r in records]
        ids = [i for i in ids if i is not None]
        remaining = None if self.limit is None else max(0, self.limit - self.tally("posts_done"))
        if remaining is not None:
            posts = posts[:remaining]
        self.add_tally("posts_done", len(posts))
        yield from posts
        if self.args.tag_list == "seen":
            yield from self.tag_lookups(posts)
        if ids and not self.limit_reached(self.tally("posts_done")):
            next_cursor = min(ids)
            if cursor is not None and next_cursor >= cursor:
                # A site that ignores id:< would send the same page forever.
                self.drop("cursor-not-advancing", url=response.url, detail=f"id:<{cursor} gave id {next_cursor}")
            elif self.args.min_id is None or next_cursor > self.args.min_id:
                yield self.request(self.posts_url(next_cursor), self.parse_posts, cursor=next_cursor)

    def post_from_record(self, record: dict[str, Any], response: Response) -> Post | None:
        """One post from a booru record (DAPI JSON object or XML attributes; Danbooru / Moebooru field names
        are read too); a record without an id is dropped."""
        created = record.get("created_at")
        if isinstance(created, dict):  # Moebooru: {"s": unix seconds, "n": nanoseconds}
            created = created.get("s")
        loader = BooruPostLoader(base_url=self.base_url, legacy_letters=self.site.legacy_letters)
        loader.add_value("id", record.get("id"))
        loader.add_value("md5", record.get("hash") or record.get("md5"))
        loader.add_value("tags", record.get("tags") if "tags" in record else record.get("tag_string"))
        loader.add_value("rating", record.get("rating"))
        loader.add_value("score", record.get("score"))
        loader.add_value("width", record.get("width") or record.get("image_width"))
        loader.add_value("height", record.get("height") or record.get("image_height"))
        loader.add_value("file_url", record.get("file_url") or self.image_url(record, "images"))
        if str(record.get("sample", "")).lower() in ("1", "true") or record.get("sample_url"):
            loader.add_value("sample_url", record.get("sample_url") or self.image_url(record, "samples"))
        loader.add_value("sample_url", record.get("large_file_url"))
        loader.add_value("preview_url", record.get("preview_url") or self.image_url(record, "thumbnails"))
        loader.add_value("preview_url", record.get("preview_file_url"))
        loader.add_value("parent_id", record.get("parent_id"))
        loader.add_value("created_at", created)
        loader.add_value("changed_at", record.get("change") or record.get("updated_at"))
        loader.add_value("source_url", record.get("source"))
        loader.add_value("status", record.get("status"))
        fields = loader.load_item()
        if "id" not in fields:
            self.drop("post-without-id", url=response.url, record=record)
            return None
        categories = {}
        for category in TAG_CATEGORIES:  # Danbooru names each tag's category in tag_string_<category>
            for tag in str(record.get(f"tag_string_{category}") or "").split():
                categories[tag] = category
        return Post(
            source=self.site.source,
            source_id=str(fields["id"]),
            url=self.post_page_url(fields["id"]),
            tag_categories=categories,
            **fields,
        )

    def image_url(self, record: dict[str, Any], folder: str) -> str | None:
        """Safebooru's file layout, for records that give ``directory`` and ``image`` but no URL."""
        directory, image = record.get("directory"), record.get("image")
        if directory in (None, "") or not image:
            return None
        if folder == "images":
            return self.join(f"images/{directory}/{image}")
        stem = str(image).rsplit(".", 1)[0]
        if folder == "samples":
            return self.join(f"samples/{directory}/sample_{stem}.jpg")
        return self.join(f"thumbnails/{directory}/thumbnail_{stem}.jpg")

    # -- tags ---------------------------------------------------------------------------------------------

    def tag_lookups(self, posts: list[Post]) -> Iterator[scrapy.Request]:
        """Requests for the tags of ``posts`` not looked up yet, in batches."""
        new = [t for post in posts for t in post.tags if t not in self.looked_up]
        new = list(dict.fromkeys(new))
        self.looked_up.update(new)
        batch: list[str] = []
        for name in new:
            # Scrapy ignores URLs longer than URLLENGTH_LIMIT (2083): keep each lookup well below it.
            if batch and (len(batch) >= self.site.tag_batch or len(self.tag_names_url([*batch, name])) > MAX_URL):
                yield self.request(self.tag_names_url(batch), self.parse_tags)
                batch = []
            batch.append(name)
        if batch:
            yield self.request(self.tag_names_url(batch), self.parse_tags)

    def parse_tags(self, response: Response, records: list | None = None) -> Iterator[Any]:
        if records is None:
            try:
                records = read_records(response.body, element="tag")
            except NotReadable as err:
                yield from self.retry_unreadable(response, err)
                return
        for record in records:
            tag = self.tag_from_record(record, response)
            if tag is not None:
                yield tag

    def parse_tag_list(self, response: Response) -> Iterator[Any]:
        try:
            records = read_records(response.body, element="tag")
        except NotReadable as err:
            yield from self.retry_unreadable(response, err)
            return
        yield from self.parse_tags(response, records)
        ids = [i for i in (to_int(r.get("id")) for r in records) if i is not None]
        if ids:
            yield self.request(self.tag_list_url(max(ids)), self.parse_tag_list)

    def tag_from_record(self, record: dict[str, Any], response: Response) -> Tag | None:
        loader = BooruTagLoader()
        loader.add_value("name", record.get("name"))
        loader.add_value("count", record.get("count") if "count" in record else record.get("post_count"))
        tag_type = to_int(record.get("type") if "type" in record else record.get("category"))
        loader.add_value("category", BOORU_TAG_TYPES.get(tag_type) if tag_type is not None else None)
        fields = loader.load_item()
        if "name" not in fields:
            self.drop("tag-without-name", url=response.url, record=record)
            return None
        return Tag(source=self.site.source, source_id=fields["name"], url=response.url, **fields)

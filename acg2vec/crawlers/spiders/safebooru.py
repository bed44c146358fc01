"""Safebooru (safebooru.org), a Gelbooru-0.2 site: posts, tags with categories, image files.

    acg2vec crawl safebooru --base-url https://safebooru.org --limit 1000 --tags "1girl solo"

Any other Gelbooru-0.2 site works with its own ``--base-url``.
"""

from __future__ import annotations

from acg2vec.crawlers.spiders.booru import BooruSite, BooruSpider

SAFEBOORU = BooruSite(source="safebooru", default_base_url="https://safebooru.org")


class SafebooruSpider(BooruSpider):
    """Posts down an id cursor, the tags they use, and their image files through the files pipeline."""

    name = "safebooru"
    source = "safebooru"
    site = SAFEBOORU
    default_base_url = SAFEBOORU.default_base_url

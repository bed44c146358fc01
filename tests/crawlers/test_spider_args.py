"""Spider arguments: typed values pass as they are, strings are read once, bad values are refused by name."""

from __future__ import annotations

import json

import pytest

from acg2vec.crawlers.spider_args import parse_args
from acg2vec.crawlers.spiders.animelist import AnimeListArgs
from acg2vec.crawlers.spiders.bangumi import BangumiArgs, BangumiSpider
from acg2vec.crawlers.spiders.booru import BooruArgs
from acg2vec.crawlers.spiders.mediawiki import MediaWikiArgs
from acg2vec.crawlers.spiders.wikipedia import WikipediaArgs


@pytest.mark.unit
def test_typed_values_survive_the_runners_json_spec() -> None:
    args = BangumiArgs(base_url="http://x", limit=3, ids=(7, 9), characters=False, subject_type=4)
    spec = json.loads(json.dumps(args.given()))  # what the child process reads
    assert spec["ids"] == [7, 9] and spec["characters"] is False and spec["limit"] == 3
    assert parse_args(BangumiArgs, spec, spider="bangumi") == args


@pytest.mark.unit
def test_strings_are_read_as_their_fields_types() -> None:
    args = parse_args(
        AnimeListArgs,
        {"ids": "7001, 7002", "characters": "0", "limit": "2", "voice_languages": "Japanese,English"},
        spider="animelist",
    )
    assert (args.ids, args.characters, args.limit) == ((7001, 7002), False, 2)
    assert args.voice_languages == ("Japanese", "English")
    wiki = parse_args(MediaWikiArgs, {"category": "A|B", "depth": "1", "langlinks": ""}, spider="moegirl")
    assert (wiki.category, wiki.depth, wiki.langlinks) == (("A", "B"), 1, ())
    assert parse_args(BangumiArgs, {"characters": "true"}, spider="bangumi").characters is True


@pytest.mark.unit
@pytest.mark.parametrize(
    ("cls", "values", "says"),
    [
        (BooruArgs, {"format": "yaml"}, "format must be json or xml, not 'yaml'"),
        (BooruArgs, {"tag_list": "some"}, "tag_list must be seen, all or none"),
        (BooruArgs, {"min_id": 50, "max_id": 10}, "min_id 50 is above max_id 10"),
        (BooruArgs, {"limit": -1}, "limit must be 0 (no limit) or more"),
        (AnimeListArgs, {"mode": "xml"}, "mode must be jikan or html"),
        (WikipediaArgs, {"lang": "fr"}, "lang must be one of zh, ja, en"),
        (MediaWikiArgs, {"depth": -1}, "depth must be 0 or more"),
        (BangumiArgs, {"characters": "maybe"}, "characters must be true or false"),
        (BangumiArgs, {"ids": "1,x"}, "ids must be a number"),
        (BangumiArgs, {"colour": "red"}, "bangumi takes no argument colour"),
    ],
)
def test_bad_arguments_are_refused_by_name(cls, values, says) -> None:
    with pytest.raises(ValueError) as err:
        parse_args(cls, values, spider="bangumi")
    assert says in str(err.value)


@pytest.mark.unit
def test_the_spider_parses_its_arguments_once_into_args() -> None:
    spider = BangumiSpider(base_url="http://127.0.0.1:9/bangumi/", ids=[5], limit=0)
    assert isinstance(spider.args, BangumiArgs) and spider.args.ids == (5,)
    assert spider.base_url == "http://127.0.0.1:9/bangumi" and spider.limit is None
    assert BangumiSpider().base_url == "https://api.bgm.tv"

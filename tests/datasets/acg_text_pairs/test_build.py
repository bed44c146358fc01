"""build: the whole text-pair build on dummy data and real captures; atomic publish, lock, bad bytes, the CLI."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
from acg2vec.beam_pipelines.publish import BuildResult
from acg2vec.crawlers.items import Character, Item, Section, Work, item_to_dict
from acg2vec.crawlers.pixiv import TagBook, illust_from_ajax
from acg2vec.crawlers.spiders.animelist import character_from_jikan, person_from_jikan, work_from_anime
from acg2vec.crawlers.spiders.bangumi import character_from, person_from, related_ids, work_from_subject
from acg2vec.crawlers.spiders.mediawiki import ParsedPage, read_parse_response
from acg2vec.crawlers.spiders.moegirl import MoegirlSpider
from acg2vec.crawlers.spiders.wikipedia import WikipediaSpider
from acg2vec.datasets.acg_entities.schema import entity_id
from acg2vec.datasets.acg_text_pairs import build, card, schema
from acg2vec.datasets.acg_text_pairs import records as text_records
from acg2vec.datasets.acg_text_pairs.schema import PAIR_TYPES
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

DUMMY_RAW = Path(text_records.__file__).resolve().parent / "dummy_data"
LOCAL = BuildOptions(runner=RunnerConfig(mode="in_memory"))


# -- the whole build on the hand-made dummy data ---------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    root = tmp_path_factory.mktemp("texts")
    shutil.copytree(DUMMY_RAW, root / "raw")
    return build.build(Workspace.at(root), options=LOCAL)


def _tfds_rows(out_dir: str) -> dict[str, list[tuple[str, ...]]]:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(out_dir)
    rows = {}
    for split in schema.SPLITS:
        ds = builder.as_dataset(split=split)
        rows[split] = [tuple(ex[c].decode("utf-8") for c in schema.COLUMNS) for ex in tfds.as_numpy(ds)]
    return rows


@pytest.mark.integration
def test_build_writes_the_same_rows_as_the_in_memory_path(built: BuildResult) -> None:
    expected = text_records.rows_in_memory(str(DUMMY_RAW))
    got = _tfds_rows(built.out_dir)
    for split in schema.SPLITS:
        assert sorted(got[split]) == sorted(expected[split]), split
    assert built.splits == {s: len(expected[s]) for s in schema.SPLITS}
    rows = {(r[0], r[1], r[2]): r for split_rows in got.values() for r in split_rows}
    # Kana-free Japanese titles are tagged ja because the items file them under ja; their Chinese twins zh.
    assert rows[("銀魂", "银魂", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert rows[("攻殻機動隊", "攻壳机动队", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert rows[("機動戦士ガンダム", "机动战士高达", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert all(built.splits[s] > 0 for s in schema.SPLITS)


@pytest.mark.integration
def test_every_pair_type_is_produced_and_counted(built: BuildResult) -> None:
    assert set(built.counts["by_pair_type_and_source"]) == set(PAIR_TYPES)
    meta = json.loads(Path(built.outputs["metadata"]).read_text(encoding="utf-8"))
    card = (Path(built.out_dir) / "README.md").read_text(encoding="utf-8")
    for pair_type, sources in built.counts["by_pair_type_and_source"].items():
        for source, n in sources.items():
            assert f"| {pair_type} | {source} | {n} |" in card
    assert meta["counts_by_pair_type_and_source"] == built.counts["by_pair_type_and_source"]
    assert (Path(built.out_dir) / "pair_types.png").stat().st_size > 1000


@pytest.mark.integration
def test_counts_add_up_and_drops_are_dead_lettered(built: BuildResult) -> None:
    balance = card.accounting(built.metrics)
    assert balance["lines_add_up"] and balance["pairs_add_up"]
    assert balance["lines_dropped"] == 2 and balance["pairs_written"] == sum(built.splits.values())
    assert built.balances["lines"] == (balance["lines_read"], balance["items_parsed"], 2)
    pairs = (balance["pair_candidates"], balance["pairs_written"], balance["pairs_dropped"])
    assert built.balances["candidate pairs"] == pairs
    assert built.summary().startswith("acg_text_pairs: train ") and f"{pairs[2]} candidate pairs" in built.summary()
    dead: Counter[str] = Counter()
    for path in Path(built.out_dir, "dead_letters").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            dead.update(json.loads(line)["reason"] for line in fh)
    not_drops = ("Lines-read", "Lines-parsed", "Pairs-candidates", "Pairs-cleaned")
    dropped = {
        k.split("-", 1)[1]: v
        for k, v in built.metrics.items()
        if k.startswith(("Lines-", "Items-", "Pairs-", "Dedup-")) and k not in not_drops
    }
    dropped["character-work-missing"] = built.metrics["Joins-character-work-missing"]
    assert dict(dead) == dropped
    for reason in (
        "duplicate",
        "same-sides",
        "malformed-json",
        "wrong-type",
        "boilerplate-page",
        "disambiguation-page",
    ):
        assert dead[reason] > 0, reason


@pytest.mark.integration
def test_no_entity_in_two_splits(built: BuildResult) -> None:
    import pyarrow.parquet as pq

    seen: dict[str, str] = {}
    for split in schema.SPLITS:
        table = pq.read_table(f"{built.outputs['Parquet']}/{split}")
        for entity in set(table.column("entity_id").to_pylist()):
            assert seen.setdefault(entity, split) == split, f"{entity} in {seen[entity]} and {split}"
    # The characters of a work take the work's entity, so they are in the work's split.
    rows = _tfds_rows(built.out_dir)
    where = {r[4]: s for s, split_rows in rows.items() for r in split_rows}
    title_entity = {r[0]: r[4] for split_rows in rows.values() for r in split_rows if r[2] == "title_ja-title_zh"}
    character_rows = [r for split_rows in rows.values() for r in split_rows if r[2] == "title_ja-character"]
    assert character_rows
    for row in character_rows:
        assert row[4] == title_entity[row[0]] and where[row[4]] == text_records.split_of(row[4]), row


def _parquet_rows(corpus: str) -> dict[str, list[tuple[str, ...]]]:
    """Rows by split from the Parquet output (an empty split has no folder; TFDS cannot read an empty split)."""
    import pyarrow.parquet as pq

    rows = {}
    for split in schema.SPLITS:
        if Path(corpus, split).is_dir():
            table = pq.read_table(f"{corpus}/{split}")
            rows[split] = [tuple(r[c] for c in schema.COLUMNS) for r in table.to_pylist()]
    return rows


def _one_work_from_every_source() -> list[Item]:
    """銀魂 as each crawler would give it (each site knows only its own ids), plus one other work."""
    ja_page, zh_page, en_page = "銀魂 (アニメ)", "银魂 (动画)", "Gintama"
    wiki_links = {"ja": ja_page, "zh": zh_page, "en": en_page}
    items: list[Item] = [
        Work(source="bangumi", source_id="2", titles={"ja": "銀魂", "zh-Hans": "银魂"},
             summaries={"zh-Hans": "在被外星人占领的江户，万事屋的坂田银时接下各种委托。"}, tags=["搞笑", "热血"],
             ids={"bangumi": "2"}, character_ids=["11"]),
        Character(source="bangumi", source_id="11", names={"ja": "坂田銀時", "zh-Hans": "坂田银时"}, work_ids=["2"]),
        Work(source="animelist", source_id="918", titles={"ja-Latn": "Gintama", "ja": "銀魂", "en": "Gintama."},
             summaries={"en": "In an Edo occupied by aliens, Gintoki Sakata takes odd jobs."}, ids={"mal": "918"}),
        Character(source="animelist", source_id="672", names={"ja-Latn": "Kagura", "ja": "神楽"}, work_ids=["918"]),
        Work(source="bangumi", source_id="9", titles={"ja": "進撃の巨人", "zh-Hans": "进击的巨人"},
             summaries={"zh-Hans": "人类躲在高墙之内，与巨人战斗。"}, ids={"bangumi": "9"}),
    ]  # fmt: skip
    for lang, title, intro, heading, text in (
        ("ja", ja_page, "『銀魂』は空知英秋の漫画を原作とするアニメ。", "あらすじ", "宇宙人に占領された江戸で、銀時は万事屋を営む。"),
        ("zh", zh_page, "《银魂》是改编自空知英秋漫画的电视动画。", "剧情", "在被天人占领的江户，坂田银时经营着万事屋。"),
        ("en", en_page, "Gintama is an anime series based on the manga by Hideaki Sorachi.", "Plot",
         "In an Edo occupied by aliens, Gintoki runs an odd-jobs business."),
    ):  # fmt: skip
        links = {k: v for k, v in wiki_links.items() if k != lang}
        for index, path, body in ((0, [], intro), (1, [heading], text)):
            items.append(Section(source="wikipedia", source_id=f"{lang}:{title}#{index}", title=title, language=lang,
                                 heading_path=path, text=body, langlinks=links))  # fmt: skip
    items.append(
        Work(source="wikipedia", source_id=f"zh:{zh_page}", titles={"zh-Hans": zh_page, "ja": ja_page, "en": en_page},
             summaries={"zh-Hans": "《银魂》是改编自空知英秋漫画的电视动画。"},
             ids={"wiki:zh": zh_page, "wiki:ja": ja_page, "wiki:en": en_page})
    )  # fmt: skip
    moegirl_links = {"ja": "銀魂"}
    items += [
        Section(source="moegirl", source_id="zh:银魂#0", title="银魂", language="zh",
                text="《银魂》是空知英秋创作的漫画，也指其改编动画。", langlinks=moegirl_links),
        Section(source="moegirl", source_id="zh:银魂#1", title="银魂", language="zh", heading_path=["简介"],
                text="故事发生在被天人统治的江户时代末期。", langlinks=moegirl_links),
        Work(source="moegirl", source_id="zh:银魂", titles={"zh-Hans": "银魂", "ja": "銀魂"},
             summaries={"zh-Hans": "《银魂》是空知英秋创作的漫画，也指其改编动画。"},
             ids={"moegirl": "银魂", "wiki:ja": "銀魂"}),
    ]  # fmt: skip
    return items


@pytest.mark.integration
def test_one_work_from_every_source_lands_in_one_split(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for item in _one_work_from_every_source():
        path = raw / item.source / f"{item.kind}-00000.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "at", encoding="utf-8") as fh:
            fh.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
    report = build.build(Workspace.at(tmp_path), options=LOCAL)
    rows = {split: [] for split in schema.SPLITS} | {s: r for s, r in _parquet_rows(report.outputs["Parquet"]).items()}
    assert sum(map(len, rows.values())) == sum(report.splits.values())
    splits_of: dict[str, set[str]] = {}
    for split, split_rows in rows.items():
        for row in split_rows:
            splits_of.setdefault(row[4], set()).add(split)
    # The linked entities (acg_entities): one per work, named by its Bangumi record.
    gintama_id, shingeki_id = entity_id("work", "bangumi", "2"), entity_id("work", "bangumi", "9")
    assert set(splits_of) == {gintama_id, shingeki_id}
    # One split holds every pair about the work, whichever site, language or pair type it came from.
    assert splits_of[gintama_id] == {text_records.split_of(gintama_id)}
    gintama = [row for split_rows in rows.values() for row in split_rows if row[4] == gintama_id]
    assert {r[3] for r in gintama} == {"bangumi", "animelist", "wikipedia", "moegirl"}
    assert {r[2] for r in gintama} >= {
        "title_ja-title_zh", "title_ja-title_en", "title_ja-summary", "title_zh-summary", "title_en-summary",
        "title_zh-tags", "title_ja-character", "title_zh-character", "heading-section", "title_heading-section",
        "summary-summary",
    }  # fmt: skip
    assert ("銀魂", "神楽") in {(r[0], r[1]) for r in gintama}  # MAL's character, through its work
    assert card.accounting(report.metrics)["pairs_add_up"]


@pytest.mark.integration
def test_tfds_load_and_hugging_face_datasets(built: BuildResult) -> None:
    import datasets
    import tensorflow_datasets as tfds

    import acg2vec.datasets.acg_text_pairs  # noqa: F401  (registers the builder)

    data_dir = str(Path(built.out_dir).parents[1])
    ds = tfds.load("acg_text_pairs", split="validation", data_dir=data_dir, download=False)
    assert len(list(ds)) == built.splits["validation"]
    files = {s: f"{built.outputs['Parquet']}/{s}/*.parquet" for s in schema.SPLITS}
    hf = datasets.load_dataset("parquet", data_files=files)
    assert {s: hf[s].num_rows for s in schema.SPLITS} == built.splits
    assert hf["train"].column_names == list(schema.COLUMNS)
    assert pq_compression(built) == "ZSTD"
    gundam = [r for s in schema.SPLITS for r in list(hf[s]["anchor"]) if "ガンダム" in r]
    assert "機動戦士ガンダム" in gundam


def pq_compression(built: BuildResult) -> str:
    import pyarrow.parquet as pq

    path = next(Path(f"{built.outputs['Parquet']}/train").glob("*.parquet"))
    return pq.ParquetFile(path).metadata.row_group(0).column(0).compression


@pytest.mark.integration
def test_rows_do_not_depend_on_the_bucket_count(built: BuildResult, tmp_path: Path) -> None:
    shutil.copytree(DUMMY_RAW, tmp_path / "raw")
    again = build.build(Workspace.at(tmp_path), options=BuildOptions(runner=LOCAL.runner, buckets=3))
    assert again.buckets == 3 and built.buckets != 3
    first, second = _tfds_rows(built.out_dir), _tfds_rows(again.out_dir)
    assert {s: sorted(v) for s, v in first.items()} == {s: sorted(v) for s, v in second.items()}


@pytest.mark.unit
def test_missing_raw_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="No raw items"):
        build.build(Workspace.at(tmp_path))


@pytest.mark.integration
def test_cli_build_texts(workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["build", "texts", "--mode", "in_memory", "--workers", "1"])
    assert isinstance(missing.exception, UserError)
    shutil.copytree(DUMMY_RAW, workdir / "raw")
    bad_mode = runner.invoke(app, ["build", "texts", "--mode", "turbo"])
    assert isinstance(bad_mode.exception, UserError)
    result = runner.invoke(
        app, ["build", "texts", "--mode", "in_memory", "--workers", "1", "--sources", "bangumi,pixiv"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(
        (workdir / "datasets" / "acg_text_pairs" / "1.0.0" / "build_metadata.json").read_text(encoding="utf-8")
    )
    assert {s for sources in meta["counts_by_pair_type_and_source"].values() for s in sources} == {"bangumi", "pixiv"}
    assert meta["accounting"]["pairs_add_up"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("title_ja-summary", "is malformed"),
        ("=10:800", "is malformed"),
        ("no-such-type=1:2", "unknown pair type 'no-such-type'"),
        ("title_ja-summary=10-800", "is not MIN:MAX"),
        ("title_ja-summary=ten:800", "is not MIN:MAX"),
        ("title_ja-summary=800:10", "the minimum 800 is above the maximum 10"),
        ("title_ja-summary=1:2,3:4,5:6", "has 3 ranges"),
    ],
)
def test_cli_bounds_malformed_is_one_line_user_error(workdir: Path, value: str, message: str) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    shutil.copytree(DUMMY_RAW, workdir / "raw")
    result = CliRunner().invoke(app, ["build", "texts", "--mode", "in_memory", "--bounds", value])
    assert isinstance(result.exception, UserError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not (workdir / "datasets" / "acg_text_pairs").exists()  # rejected before anything is built


@pytest.mark.integration
def test_cli_bounds_reach_the_build(workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    shutil.copytree(DUMMY_RAW, workdir / "raw")
    args = ["build", "texts", "--mode", "in_memory", "--workers", "1", "--sources", "bangumi"]
    # Every tag list is shorter than 399 characters, so no title_zh-tags pair survives; the title pairs get
    # explicit bounds on both sides that keep them.
    bounds = ["--bounds", "title_zh-tags=399:400", "--bounds", "title_ja-title_zh=1:50, 1:60"]
    twice = CliRunner().invoke(app, [*args, *bounds, "--bounds", "title_zh-tags=1:2"])
    assert isinstance(twice.exception, UserError) and "title_zh-tags twice" in str(twice.exception)
    result = CliRunner().invoke(app, [*args, *bounds])
    assert result.exit_code == 0, result.output
    meta = json.loads(
        (workdir / "datasets" / "acg_text_pairs" / "1.0.0" / "build_metadata.json").read_text(encoding="utf-8")
    )
    assert meta["config"]["pair_type_bounds"] == {
        "title_zh-tags": [list(text_records.DEFAULT_SIDE_BOUNDS["title"]), [399, 400]],
        "title_ja-title_zh": [[1, 50], [1, 60]],
    }
    assert "title_zh-tags" not in meta["counts_by_pair_type_and_source"]
    assert meta["counters"]["Pairs-positive-too-short"] > 0
    assert meta["counts_by_pair_type_and_source"]["title_ja-title_zh"]["bangumi"] > 0


@pytest.mark.slow
@pytest.mark.integration
def test_multi_processing_runner_gives_the_same_rows(built: BuildResult, tmp_path: Path) -> None:
    shutil.copytree(DUMMY_RAW, tmp_path / "raw")
    runner = RunnerConfig(mode="multi_processing", workers=2)
    again = build.build(Workspace.at(tmp_path), options=BuildOptions(runner=runner))
    first, second = _tfds_rows(built.out_dir), _tfds_rows(again.out_dir)
    assert {s: sorted(v) for s, v in first.items()} == {s: sorted(v) for s, v in second.items()}


# -- conformance: items parsed from the real site captures go through the build ------------------------------


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _items(real: Path) -> dict[tuple[str, str], list[Item]]:
    """Items from the captures, each made by the crawler's own parser for that format."""
    out: dict[tuple[str, str], list[Item]] = {}

    def add(item: Item) -> None:
        out.setdefault((item.source, item.kind), []).append(item)

    subject = _load(real / "bangumi" / "v0_example_SubjectDetail.json")
    related = _load(real / "bangumi" / "v0_example_RelatedCharacter.json")
    add(work_from_subject(subject, url=None, character_ids=related_ids(related)))
    for character in related:
        add(character_from(character, url=None, work_ids=[subject["id"]]))
    add(person_from(_load(real / "bangumi" / "v0_example_PersonDetail.json"), url=None))

    # Jikan: one anime in full, the anime of a search page and a top page, a character, a person.
    jikan = real / "jikan"
    add(work_from_anime(_load(jikan / "anime-success.json")["body"]["data"]))
    for listing in ("search-success.json", "top-success.json"):
        for anime in _load(jikan / listing)["body"]["data"]:
            add(work_from_anime(anime))
    add(character_from_jikan(_load(jikan / "character-success.json")["body"]["data"]))
    add(person_from_jikan(_load(jikan / "person-success.json")["body"]["data"]))

    # MediaWiki action=parse: the English Wikipedia spider turns the page into its items.
    page = read_parse_response(_load(real / "mediawiki" / "wptools_parse.json")["response"])
    for item in WikipediaSpider(lang="en").page_items(page):
        add(item)

    # moegirl: the capture holds a page's 人物信息 infobox wikitext; the moegirl spider reads it as that page.
    moegirl = _load(real / "moegirl" / "moegirl_dataset_readme_sample.json")
    for name, raw in moegirl["extra_info_raw_wikitext"].items():
        parsed = ParsedPage(title=name, page_id=None, wikitext=raw[0], langlinks={}, categories=[], properties={})
        for item in MoegirlSpider().page_items(parsed):
            add(item)

    # pixiv AJAX /ajax/illust/{id} bodies: the importer's tag translations (illusts are not read by this build).
    book = TagBook()
    for capture in sorted((real / "pixiv").glob("test-image-info*.json")):
        _, translations = illust_from_ajax(_load(capture)["body"])
        for translation in translations:
            book.add(translation)
    for item in book.items():
        add(item)
    return out


@pytest.mark.integration
def test_real_captures_through_the_build(shared_fixtures: Path, tmp_path: Path) -> None:
    items = _items(shared_fixtures)
    raw = tmp_path / "raw"
    for (source, kind), group in items.items():
        path = raw / source / f"{kind}-00000.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for item in group:
                fh.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
    report = build.build(Workspace.at(tmp_path), options=LOCAL)
    balance = card.accounting(report.metrics)
    assert balance["lines_add_up"] and balance["pairs_add_up"]
    assert balance["lines_read"] == sum(len(g) for g in items.values()) and balance["lines_dropped"] == 0

    rows = [r for split_rows in text_records.rows_in_memory(str(raw)).values() for r in split_rows]
    by_type = {}
    for row in rows:
        by_type.setdefault(row[2], []).append(row)
    # Bangumi: ノーゲーム・ノーライフ with its Chinese title, summary, tags and its characters.
    assert ("ノーゲーム・ノーライフ", "NO GAME NO LIFE 游戏人生") in {
        (r[0], r[1]) for r in by_type["title_ja-title_zh"]
    }
    assert {r[0] for r in by_type["title_ja-character"]} == {"ノーゲーム・ノーライフ"}
    assert len(by_type["title_ja-character"]) == len({c.names.get("ja") for c in items[("bangumi", "character")]})
    assert by_type["title_zh-summary"][0][1].startswith("“听说游戏玩家兄妹要征服幻想世界”")
    assert "\r" not in by_type["title_zh-summary"][0][1]
    assert all(r[6] == "zh" for r in by_type["title_zh-summary"])
    # Jikan: the Japanese and English titles of Mushishi, under the entity of its Japanese title.
    mushishi = entity_id("work", "animelist", "457")
    assert ("蟲師", "Mushi-Shi", mushishi) in {(r[0], r[1], r[4]) for r in by_type["title_ja-title_en"]}
    jikan_works = items[("animelist", "work")]
    # Every MyAnimeList entry is linked (its pairs carry a linked work's id, anchored at one of its records).
    assert {r[4] for r in rows if r[3] == "animelist"} <= {
        entity_id("work", w.source, w.source_id) for w in [*jikan_works, *items[("bangumi", "work")]]
    }
    # The Jikan character and person captures are the short forms (no anime, no Chinese name): named drops.
    assert report.metrics["Items-character-without-work"] >= 1
    assert report.metrics["Items-person-without-ja-zh-names"] >= 1
    # Wikipedia: the Douglas Adams page's sections, markup stripped.
    sections = by_type["heading-section"]
    assert any(r[0] == "Early life / Education" for r in sections)
    assert all("{{" not in r[1] and "<ref" not in r[1] and "[[" not in r[1] for r in sections)
    assert all(r[5] == r[6] == "en" for r in sections)
    # A page known only from its sections is one linked record (the page is its own entity: nothing else names it).
    assert {r[4] for r in rows if r[3] == "wikipedia"} == {entity_id("work", "wikipedia", "en:Douglas Adams")}
    # moegirl: the infobox-only page gives no section (all markup), and a Character with its Japanese name,
    # which lists no work (moegirl characters never do), so it is a named drop.
    (moe_character,) = items[("moegirl", "character")]
    assert moe_character.names == {"zh-Hans": "泉此方", "ja": "泉こなた"}
    assert ("moegirl", "section") not in items
    assert report.metrics["Items-character-without-work"] == 2  # Jikan's Ginko and moegirl's 泉此方
    # pixiv: the captures translate tags to English only, so no tag_ja-tag_zh pair and a named drop per tag.
    assert "tag_ja-tag_zh" not in by_type
    assert report.metrics["Items-tag-without-zh"] == len(items[("pixiv", "tag_translation")]) > 0


@pytest.mark.integration
def test_a_line_that_is_not_utf8_is_dead_lettered_in_every_raw_family(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(DUMMY_RAW, raw)
    families = sorted(p for p in raw.glob("*/*-*.jsonl*"))
    bad = b'{"kind": "work", "titles": {"ja": "caf\xe9"}}\n'  # Latin-1: not UTF-8
    for path in families:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        data = data.rstrip(b"\n") + b"\n" + bad
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    report = build.build(Workspace.at(tmp_path), options=LOCAL)
    assert report.metrics["Lines-undecodable-utf8"] == len(families) >= 5
    balance = card.accounting(report.metrics)
    assert balance["lines_add_up"] and balance["pairs_add_up"]
    dead = []
    with gzip.open(next(Path(report.out_dir, "dead_letters").glob("Lines-*.jsonl.gz")), "rt") as fh:
        dead = [json.loads(line) for line in fh]
    assert [(d["reason"], d["step"]) for d in dead] == [("undecodable-utf8", "Lines")] * len(families)
    assert all("0xe9" in d["detail"] and "caf\ufffd" in d["record"] for d in dead)
    # The same rows as without the bad lines: nothing else was lost.
    assert report.splits == {s: len(r) for s, r in text_records.rows_in_memory(str(DUMMY_RAW)).items()}

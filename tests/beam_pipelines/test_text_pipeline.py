"""The text-pair build: cleaning and bad input, Beam transforms with TestPipeline, the full build on dummy data."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from acg2vec.beam_pipelines import texts
from acg2vec.beam_pipelines.pair_extractors import PAIR_TYPES, RawPair
from acg2vec.crawlers.items import Character, Item, Section, Work, item_to_dict
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.errors import UserError

DUMMY_RAW = Path(texts.__file__).resolve().parents[1] / "datasets" / "acg_text_pairs" / "dummy_data"
CONFIG = texts.TextPairsConfig()


def _pair(anchor: str, positive: str, pair_type: str = "title_ja-summary") -> RawPair:
    return RawPair(anchor, positive, pair_type, "bangumi", "bangumi:1", "ja", "zh-Hans")


# -- cleaning and bad input (unit) ---------------------------------------------------------------------------


@pytest.mark.unit
def test_clean_pair_normalises_and_tags() -> None:
    row, reason = texts.clean_pair(_pair(" ｶﾞﾝﾀﾞﾑ\n", "宇宙世纪0079年，  吉翁公国向地球联邦宣战。"), CONFIG)
    assert reason == ""
    assert row == (
        "ガンダム",
        "宇宙世纪0079年, 吉翁公国向地球联邦宣战。",
        "title_ja-summary",
        "bangumi",
        "bangumi:1",
        "ja",
        "zh",
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("pair", "reason"),
    [
        (_pair("", "一段足够长的简介文字在这里。"), "anchor-empty-text"),
        (_pair("銀魂", "\u200b \n"), "positive-empty-text"),
        (_pair("銀魂", "太短"), "positive-too-short"),
        (_pair("銀" * 201, "一段足够长的简介文字在这里。"), "anchor-too-long"),
        (_pair("銀魂", "x" * 100_001), "huge-text"),
        (_pair("Gintama", "GINTAMA", "title_ja-title_en"), "same-sides"),
        (_pair("銀魂", "{{Infobox|a=b}}<ref>x</ref>"), "positive-empty-text"),
    ],
)
def test_clean_pair_drops_are_named(pair: RawPair, reason: str) -> None:
    assert texts.clean_pair(pair, CONFIG) == (None, reason)


@pytest.mark.unit
def test_long_texts_are_cut_and_bounds_configurable() -> None:
    long = "这是一句话。" * 400
    row, _ = texts.clean_pair(_pair("銀魂", long), CONFIG)
    assert row is not None and len(row[1]) <= 1000 and row[1].endswith("。")
    strict = texts.TextPairsConfig(pair_type_bounds={"title_ja-summary": ((3, 10), (10, 1000))})
    assert texts.clean_pair(_pair("銀魂", long), strict) == (None, "anchor-too-short")
    # The override is for its pair type only: the same pair under another type keeps the side-kind defaults.
    assert texts.clean_pair(_pair("銀魂", long, "title_zh-summary"), strict)[0] is not None
    # Without overrides every pair type is bounded by its two side kinds.
    for pair_type, (anchor_kind, positive_kind) in PAIR_TYPES.items():
        expected = (texts.DEFAULT_SIDE_BOUNDS[anchor_kind], texts.DEFAULT_SIDE_BOUNDS[positive_kind])
        assert CONFIG.bounds(pair_type) == expected, pair_type
        assert strict.bounds(pair_type) == (((3, 10), (10, 1000)) if pair_type == "title_ja-summary" else expected)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"kind": "work", "source": "bangumi", "titles": {"ja": "途中', "line/malformed-json"),
        (b"\xff\xfe not utf-8", "line/malformed-json"),
        ("[1, 2, 3]", "line/not-an-object"),
        ('{"kind": "spaceship", "source": "x", "source_id": "1"}', "line/unknown-kind"),
        ('{"kind": "work", "source": "bangumi"}', "line/missing-field"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": ["a"]}', "line/wrong-type"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": 5}}', "line/wrong-type"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": ""}}', "item/work-without-texts"),
    ],
)
def test_bad_lines_are_named_and_dead_lettered(line: str | bytes, reason: str) -> None:
    result = texts.process_line(line, CONFIG)
    assert result.rows == []
    assert [r for r, _ in result.drops] == [reason]
    dead = json.loads(result.drops[0][1])
    assert dead["reason"] == reason.split("/", 1)[1] and dead["record"] is not None


@pytest.mark.unit
def test_huge_text_line() -> None:
    work = Work(
        source="bangumi",
        source_id="1",
        titles={"ja": "銀魂", "zh-Hans": "银魂"},
        summaries={"zh-Hans": "长" * 200_000},
    )
    result = texts.process_line(json.dumps(item_to_dict(work), ensure_ascii=False), CONFIG)
    assert [r[2] for r in result.rows] == ["title_ja-title_zh"]
    assert sorted(r for r, _ in result.drops) == ["pair/huge-text", "pair/huge-text"]
    assert result.candidates == 3


@pytest.mark.unit
def test_finalize_dedups_keeps_a_stable_copy_and_splits_by_entity() -> None:
    a = ("銀魂", "银魂", "title_ja-title_zh", "wikipedia", "wikipedia:ja:銀魂", "ja", "zh")
    b = ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "bangumi:2", "ja", "zh")
    c = ("銀魂 ", "银魂", "title_ja-title_zh", "bangumi", "bangumi:2", "ja", "zh")  # same key after casefold/space
    summary = "在被外星人占领的江户，万事屋的坂田银时和伙伴们接下各种委托，过着吵吵闹闹的日子。"
    d = ("银魂", summary, "title_zh-summary", "bangumi", "bangumi:2", "zh", "zh")
    e = ("银魂", summary.replace("各种", "各类"), "title_zh-summary", "moegirl", "moegirl:银魂", "zh", "zh")
    for order in ([a, b, c, d, e], [e, d, c, b, a]):
        result = texts.finalize_rows(order, CONFIG)
        kept = [row for rows in result.rows.values() for row in rows]
        assert sorted(kept) == sorted([b, d])  # bangumi outranks wikipedia; the moegirl summary is a near-duplicate
        assert Counter(r for r, _ in result.drops) == {"dedup/duplicate": 2, "dedup/near-duplicate": 1}
        assert all(row in result.rows[texts.split_of(row[4])] for row in kept)
    no_near = texts.finalize_rows([d, e], texts.TextPairsConfig(near_dup=False))
    assert sum(len(v) for v in no_near.rows.values()) == 2


@pytest.mark.unit
def test_split_is_stable_and_roughly_proportional() -> None:
    splits = Counter(texts.split_of(f"bangumi:{i}") for i in range(5000))
    assert 0.77 < splits["train"] / 5000 < 0.83 and 0.08 < splits["validation"] / 5000 < 0.12
    assert texts.split_of("bangumi:1") == texts.split_of("bangumi:1")


@pytest.mark.unit
def test_example_serializer_matches_the_tfds_features() -> None:
    from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import make_features

    row = ("機動戦士ガンダム", "机动战士高达", "title_ja-title_zh", "bangumi", "bangumi:1", "ja", "zh")
    features = make_features()
    import tensorflow as tf

    ours = texts.example_serializer()(row)
    theirs = features.serialize_example(dict(zip(schema.COLUMNS, row, strict=True)))
    assert tf.train.Example.FromString(ours) == tf.train.Example.FromString(theirs)  # same message, map order aside
    decoded = features.deserialize_example_np(ours)
    assert tuple(decoded[c].decode("utf-8") for c in schema.COLUMNS) == row


# -- Beam transforms (TestPipeline) ----------------------------------------------------------------------------


@pytest.mark.integration
def test_extract_fn_with_test_pipeline() -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    work = Work(source="bangumi", source_id="2", titles={"ja": "銀魂", "zh-Hans": "银魂"}, ids={"bangumi": "2"})
    lines = [json.dumps(item_to_dict(work), ensure_ascii=False), "{broken"]
    row = ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "ja:銀魂", "ja", "zh")
    _, ExtractPairsFn, _, _ = texts._beam_fns()
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(lines) | beam.ParDo(ExtractPairsFn(CONFIG, 4)).with_outputs("join", "dead", main="pairs")
        assert_that(
            out.pairs, equal_to([(texts.pair_bucket(row, 4), json.dumps(row, ensure_ascii=False))]), label="Pairs"
        )
        joins = out.join | beam.MapTuple(lambda bucket, line: texts.join_from_json(line).key)
        assert_that(joins, equal_to(["bangumi:work:2"]), label="Joins")
        reasons = out.dead | beam.Map(lambda line: json.loads(line)["reason"])
        assert_that(reasons, equal_to(["malformed-json"]), label="Dead")


@pytest.mark.integration
def test_resolve_joins_fn_with_test_pipeline(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from acg2vec.beam_pipelines import pair_extractors as px

    parts = [
        px.JoinPart("bangumi:work:2", "work", "bangumi", "ja:銀魂", {"ja": "銀魂", "zh": "银魂"}, "2"),
        px.JoinPart("bangumi:work:2", "character", "bangumi", "", {"ja": "坂田銀時", "zh": "坂田银时"}, "11"),
        px.JoinPart("bangumi:work:404", "character", "bangumi", "", {"ja": "名無し"}, "12"),
        # The title and the name are equal: the pair is dropped under its name.
        px.JoinPart("bangumi:work:3", "work", "bangumi", "ja:神楽", {"ja": "神楽"}, "3"),
        px.JoinPart("bangumi:work:3", "character", "bangumi", "", {"ja": "神楽"}, "13"),
    ]
    join_dir = tmp_path / "joins"
    join_dir.mkdir()
    num_buckets = 4
    for part in parts:  # the layout stage 1 writes: <bucket>-<shard>.jsonl, one part per line
        bucket = texts.stable_hash(part.key) % num_buckets
        with open(join_dir / f"{bucket:05d}-00000-of-00001.jsonl", "a", encoding="utf-8") as fh:
            fh.write(texts.join_to_json(part) + "\n")
    expected = [
        ("銀魂", "坂田銀時", "title_ja-character", "bangumi", "ja:銀魂", "ja", "ja"),
        ("银魂", "坂田银时", "title_zh-character", "bangumi", "ja:銀魂", "zh", "zh"),
    ]
    _, _, ResolveJoinsFn, _ = texts._beam_fns()
    with TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create(range(num_buckets))
            | beam.ParDo(ResolveJoinsFn(CONFIG, num_buckets, str(join_dir))).with_outputs("dead", main="pairs")
        )
        pairs = [(texts.pair_bucket(row, num_buckets), json.dumps(row, ensure_ascii=False)) for row in expected]
        assert_that(out.pairs, equal_to(pairs), label="Pairs")
        reasons = out.dead | beam.Map(lambda line: json.loads(line)["reason"])
        assert_that(reasons, equal_to(["character-work-missing", "same-sides"]), label="Dead")


@pytest.mark.integration
def test_finalize_bucket_fn_with_test_pipeline(tmp_path: Path) -> None:
    import apache_beam as beam
    import pyarrow.parquet as pq
    import tensorflow as tf
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    kept = [
        ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "ja:銀魂", "ja", "zh"),
        ("進撃の巨人", "进击的巨人", "title_ja-title_zh", "bangumi", "ja:進撃の巨人", "ja", "zh"),
    ]
    duplicate = ("銀魂", "银魂", "title_ja-title_zh", "wikipedia", "ja:銀魂", "ja", "zh")  # bangumi's copy wins
    pair_dirs = [tmp_path / "pairs-extract", tmp_path / "pairs-join"]
    for pair_dir, rows in zip(pair_dirs, [[kept[0], duplicate], [kept[1]]], strict=True):
        pair_dir.mkdir()
        with open(pair_dir / "00000-00000-of-00001.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out_dir, parquet_root = tmp_path / "out", tmp_path / "datasets"
    (out_dir / "deadletter").mkdir(parents=True)
    _, _, _, FinalizeBucketFn = texts._beam_fns()
    splits = Counter(texts.split_of(row[4]) for row in kept)
    with TestPipeline(runner="FnApiRunner") as p:
        stats = (
            p
            | beam.Create([0, 1])  # bucket 1 has no files: no shards, no drops
            | beam.ParDo(FinalizeBucketFn(CONFIG, [str(d) for d in pair_dirs], str(out_dir), str(parquet_root)))
            | beam.Map(json.loads)
            | beam.Map(lambda s: (s["bucket"], {k: v["rows"] for k, v in s["splits"].items()}, s["drops"]))
        )
        assert_that(stats, equal_to([(0, dict(splits), {"dedup/duplicate": 1}), (1, {}, {})]))
    written = []
    for split in splits:
        records = tf.data.TFRecordDataset(str(out_dir / f"_bucket-{split}-00000.tfrecord"))
        assert len(list(records)) == splits[split]
        table = pq.read_table(schema.parquet_dir(str(parquet_root), split))
        written += [tuple(r[c] for c in schema.COLUMNS) for r in table.to_pylist()]
        assert all(texts.split_of(r[4]) == split for r in written[-splits[split] :])
    assert sorted(written) == sorted(kept)
    with gzip.open(out_dir / "deadletter" / "finalize-00000.jsonl.gz", "rt", encoding="utf-8") as fh:
        assert [json.loads(line)["record"] for line in fh] == [list(duplicate)]


# -- the whole build on the hand-made dummy data ---------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> texts.BuildReport:
    root = tmp_path_factory.mktemp("texts")
    return texts.build_text_pairs(str(DUMMY_RAW), str(root / "datasets"), mode="in_memory", workers=1)


def _tfds_rows(out_dir: str) -> dict[str, list[tuple[str, ...]]]:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(out_dir)
    rows = {}
    for split in schema.SPLITS:
        ds = builder.as_dataset(split=split)
        rows[split] = [tuple(ex[c].decode("utf-8") for c in schema.COLUMNS) for ex in tfds.as_numpy(ds)]
    return rows


@pytest.mark.integration
def test_build_writes_the_same_rows_as_the_in_memory_path(built: texts.BuildReport) -> None:
    expected = texts.rows_in_memory(str(DUMMY_RAW))
    got = _tfds_rows(built.out_dir)
    for split in schema.SPLITS:
        assert sorted(got[split]) == sorted(expected[split]), split
    assert built.split_rows == {s: len(expected[s]) for s in schema.SPLITS}
    rows = {(r[0], r[1], r[2]): r for split_rows in got.values() for r in split_rows}
    # Kana-free Japanese titles are tagged ja because the items file them under ja; their Chinese twins zh.
    assert rows[("銀魂", "银魂", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert rows[("攻殻機動隊", "攻壳机动队", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert rows[("機動戦士ガンダム", "机动战士高达", "title_ja-title_zh")][5:] == ("ja", "zh")
    assert all(built.split_rows[s] > 0 for s in schema.SPLITS)


@pytest.mark.integration
def test_every_pair_type_is_produced_and_counted(built: texts.BuildReport) -> None:
    assert set(built.counts_by_type_source) == set(PAIR_TYPES)
    meta = json.loads(Path(built.metadata_path).read_text(encoding="utf-8"))
    card = (Path(built.out_dir) / "README.md").read_text(encoding="utf-8")
    for pair_type, sources in built.counts_by_type_source.items():
        for source, n in sources.items():
            assert f"| {pair_type} | {source} | {n} |" in card
    assert meta["counts_by_pair_type_and_source"] == built.counts_by_type_source
    assert (Path(built.out_dir) / "pair_types.png").stat().st_size > 1000


@pytest.mark.integration
def test_counts_add_up_and_drops_are_dead_lettered(built: texts.BuildReport) -> None:
    balance = texts.accounting(built.counters)
    assert balance["lines_add_up"] and balance["pairs_add_up"]
    assert balance["lines_dropped"] == 2 and balance["pairs_written"] == sum(built.split_rows.values())
    dead: Counter[str] = Counter()
    for path in Path(built.out_dir, "deadletter").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            dead.update(json.loads(line)["reason"] for line in fh)
    dropped = {
        k.split("/", 1)[1]: v for k, v in built.counters.items() if k.startswith(("line/", "item/", "pair/", "dedup/"))
    }
    dropped["character-work-missing"] = built.counters["joins/character-work-missing"]
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
def test_no_entity_in_two_splits(built: texts.BuildReport) -> None:
    import pyarrow.parquet as pq

    seen: dict[str, str] = {}
    for split in schema.SPLITS:
        table = pq.read_table(schema.parquet_dir(built.parquet_root, split))
        for entity in set(table.column("entity_id").to_pylist()):
            assert seen.setdefault(entity, split) == split, f"{entity} in {seen[entity]} and {split}"
    # The characters of a work take the work's entity, so they are in the work's split.
    rows = _tfds_rows(built.out_dir)
    where = {r[4]: s for s, split_rows in rows.items() for r in split_rows}
    title_entity = {r[0]: r[4] for split_rows in rows.values() for r in split_rows if r[2] == "title_ja-title_zh"}
    character_rows = [r for split_rows in rows.values() for r in split_rows if r[2] == "title_ja-character"]
    assert character_rows
    for row in character_rows:
        assert row[4] == title_entity[row[0]] and where[row[4]] == texts.split_of(row[4]), row


def _parquet_rows(parquet_root: str) -> dict[str, list[tuple[str, ...]]]:
    """Rows by split from the Parquet output (an empty split has no folder; TFDS cannot read an empty split)."""
    import pyarrow.parquet as pq

    rows = {}
    for split in schema.SPLITS:
        if Path(schema.parquet_dir(parquet_root, split)).is_dir():
            table = pq.read_table(schema.parquet_dir(parquet_root, split))
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
    report = texts.build_text_pairs(str(raw), str(tmp_path / "datasets"), mode="in_memory", workers=1)
    rows = {split: [] for split in schema.SPLITS} | {s: r for s, r in _parquet_rows(report.parquet_root).items()}
    assert sum(map(len, rows.values())) == sum(report.split_rows.values())
    splits_of: dict[str, set[str]] = {}
    for split, split_rows in rows.items():
        for row in split_rows:
            splits_of.setdefault(row[4], set()).add(split)
    assert set(splits_of) == {"ja:銀魂", "ja:進撃の巨人"}
    # One split holds every pair about the work, whichever site, language or pair type it came from.
    assert splits_of["ja:銀魂"] == {texts.split_of("ja:銀魂")}
    gintama = [row for split_rows in rows.values() for row in split_rows if row[4] == "ja:銀魂"]
    assert {r[3] for r in gintama} == {"bangumi", "animelist", "wikipedia", "moegirl"}
    assert {r[2] for r in gintama} >= {
        "title_ja-title_zh", "title_ja-title_en", "title_ja-summary", "title_zh-summary", "title_en-summary",
        "title_zh-tags", "title_ja-character", "title_zh-character", "heading-section", "title_heading-section",
        "summary-summary",
    }  # fmt: skip
    assert ("銀魂", "神楽") in {(r[0], r[1]) for r in gintama}  # MAL's character, through its work
    assert texts.accounting(report.counters)["pairs_add_up"]


@pytest.mark.integration
def test_tfds_load_and_hugging_face_datasets(built: texts.BuildReport) -> None:
    import datasets
    import tensorflow_datasets as tfds

    import acg2vec.datasets.acg_text_pairs  # noqa: F401  (registers the builder)

    data_dir = str(Path(built.out_dir).parents[1])
    ds = tfds.load("acg_text_pairs", split="validation", data_dir=data_dir, download=False)
    assert len(list(ds)) == built.split_rows["validation"]
    files = {s: f"{schema.parquet_dir(built.parquet_root, s)}/*.parquet" for s in schema.SPLITS}
    hf = datasets.load_dataset("parquet", data_files=files)
    assert {s: hf[s].num_rows for s in schema.SPLITS} == built.split_rows
    assert hf["train"].column_names == list(schema.COLUMNS)
    assert pq_compression(built) == "ZSTD"
    gundam = [r for s in schema.SPLITS for r in list(hf[s]["anchor"]) if "ガンダム" in r]
    assert "機動戦士ガンダム" in gundam


def pq_compression(built: texts.BuildReport) -> str:
    import pyarrow.parquet as pq

    path = next(Path(schema.parquet_dir(built.parquet_root, "train")).glob("*.parquet"))
    return pq.ParquetFile(path).metadata.row_group(0).column(0).compression


@pytest.mark.integration
def test_rows_do_not_depend_on_the_bucket_count(built: texts.BuildReport, tmp_path: Path) -> None:
    again = texts.build_text_pairs(
        str(DUMMY_RAW),
        str(tmp_path / "datasets"),
        config=texts.TextPairsConfig(num_buckets=3),
        mode="in_memory",
        workers=1,
    )
    assert again.num_buckets == 3 and built.num_buckets != 3
    first, second = _tfds_rows(built.out_dir), _tfds_rows(again.out_dir)
    assert {s: sorted(v) for s, v in first.items()} == {s: sorted(v) for s, v in second.items()}


@pytest.mark.unit
def test_missing_raw_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="No raw items"):
        texts.build_text_pairs(str(tmp_path / "raw"), str(tmp_path / "datasets"))


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
        "title_zh-tags": [list(texts.DEFAULT_SIDE_BOUNDS["title"]), [399, 400]],
        "title_ja-title_zh": [[1, 50], [1, 60]],
    }
    assert "title_zh-tags" not in meta["counts_by_pair_type_and_source"]
    assert meta["counters"]["pair/positive-too-short"] > 0
    assert meta["counts_by_pair_type_and_source"]["title_ja-title_zh"]["bangumi"] > 0


@pytest.mark.slow
@pytest.mark.integration
def test_multi_processing_runner_gives_the_same_rows(built: texts.BuildReport, tmp_path: Path) -> None:
    again = texts.build_text_pairs(str(DUMMY_RAW), str(tmp_path / "datasets"), mode="multi_processing", workers=2)
    first, second = _tfds_rows(built.out_dir), _tfds_rows(again.out_dir)
    assert {s: sorted(v) for s, v in first.items()} == {s: sorted(v) for s, v in second.items()}

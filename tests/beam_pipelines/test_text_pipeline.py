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
from acg2vec.crawlers.items import Work, item_to_dict
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
    assert set(PAIR_TYPES) <= {t for t in PAIR_TYPES if CONFIG.bounds(t)}


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
    row = ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "bangumi:2", "ja", "zh")
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
    # The characters of a work are in the work's split.
    rows = _tfds_rows(built.out_dir)
    where = {r[4]: s for s, split_rows in rows.items() for r in split_rows}
    character_rows = [r for split_rows in rows.values() for r in split_rows if r[2].endswith("-character")]
    assert character_rows and all(
        r[4].startswith("bangumi:") and where[r[4]] == texts.split_of(r[4]) for r in character_rows
    )


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


@pytest.mark.slow
@pytest.mark.integration
def test_multi_processing_runner_gives_the_same_rows(built: texts.BuildReport, tmp_path: Path) -> None:
    again = texts.build_text_pairs(str(DUMMY_RAW), str(tmp_path / "datasets"), mode="multi_processing", workers=2)
    first, second = _tfds_rows(built.out_dir), _tfds_rows(again.out_dir)
    assert {s: sorted(v) for s, v in first.items()} == {s: sorted(v) for s, v in second.items()}

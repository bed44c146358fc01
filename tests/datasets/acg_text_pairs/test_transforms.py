"""transforms: the text build's DoFns under TestPipeline + assert_that."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from acg2vec.crawlers.items import Work, item_to_dict
from acg2vec.datasets.acg_text_pairs import records as text_records
from acg2vec.datasets.acg_text_pairs import schema, transforms

CONFIG = text_records.TextPairsConfig()


# -- Beam transforms (TestPipeline) ----------------------------------------------------------------------------


@pytest.mark.integration
def test_extract_fn_with_test_pipeline() -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    work = Work(source="bangumi", source_id="2", titles={"ja": "銀魂", "zh-Hans": "银魂"}, ids={"bangumi": "2"})
    lines = [json.dumps(item_to_dict(work), ensure_ascii=False), "{broken"]
    row = ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "ja:銀魂", "ja", "zh")
    with TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create(lines)
            | beam.ParDo(transforms.ExtractPairs(CONFIG, 4)).with_outputs("join", "dead", main="pairs")
        )
        assert_that(
            out.pairs,
            equal_to([(text_records.pair_bucket(row, 4), json.dumps(row, ensure_ascii=False))]),
            label="Pairs",
        )
        joins = out.join | beam.MapTuple(lambda bucket, line: text_records.join_from_json(line).key)
        assert_that(joins, equal_to(["bangumi:work:2"]), label="Joins")
        reasons = out.dead | beam.Map(lambda dead: dead["reason"])
        assert_that(reasons, equal_to(["malformed-json"]), label="Dead")


@pytest.mark.integration
def test_resolve_joins_fn_with_test_pipeline(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from acg2vec.datasets.acg_text_pairs import pair_extractors

    parts = [
        pair_extractors.JoinPart("bangumi:work:2", "work", "bangumi", "ja:銀魂", {"ja": "銀魂", "zh": "银魂"}, "2"),
        pair_extractors.JoinPart(
            "bangumi:work:2", "character", "bangumi", "", {"ja": "坂田銀時", "zh": "坂田银时"}, "11"
        ),
        pair_extractors.JoinPart("bangumi:work:404", "character", "bangumi", "", {"ja": "名無し"}, "12"),
        # The title and the name are equal: the pair is dropped under its name.
        pair_extractors.JoinPart("bangumi:work:3", "work", "bangumi", "ja:神楽", {"ja": "神楽"}, "3"),
        pair_extractors.JoinPart("bangumi:work:3", "character", "bangumi", "", {"ja": "神楽"}, "13"),
    ]
    join_dir = tmp_path / "joins"
    join_dir.mkdir()
    num_buckets = 4
    for part in parts:  # the layout stage 1 writes: <bucket>-<shard>.jsonl, one part per line
        bucket = text_records.stable_hash(part.key) % num_buckets
        with open(join_dir / f"{bucket:05d}-00000-of-00001.jsonl", "a", encoding="utf-8") as fh:
            fh.write(text_records.join_to_json(part) + "\n")
    expected = [
        ("銀魂", "坂田銀時", "title_ja-character", "bangumi", "ja:銀魂", "ja", "ja"),
        ("银魂", "坂田银时", "title_zh-character", "bangumi", "ja:銀魂", "zh", "zh"),
    ]
    with TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create(range(num_buckets))
            | beam.ParDo(transforms.ResolveJoins(CONFIG, num_buckets, str(join_dir))).with_outputs(
                "dead", main="pairs"
            )
        )
        pairs = [(text_records.pair_bucket(row, num_buckets), json.dumps(row, ensure_ascii=False)) for row in expected]
        assert_that(out.pairs, equal_to(pairs), label="Pairs")
        reasons = out.dead | beam.Map(lambda dead: dead["reason"])
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
    out_dir, parquet_dir = tmp_path / "out", tmp_path / "parquet"
    splits = Counter(text_records.split_of(row[4]) for row in kept)
    with TestPipeline(runner="FnApiRunner") as p:
        stats = (
            p
            | beam.Create([0, 1])  # bucket 1 has no files: no shards, no drops
            | beam.ParDo(
                transforms.FinalizeBucket(CONFIG, [str(d) for d in pair_dirs], str(out_dir), str(parquet_dir), 2)
            )
            | beam.Map(json.loads)
            | beam.Map(lambda s: (s["bucket"], {k: v["rows"] for k, v in s["splits"].items()}, s["drops"]))
        )
        assert_that(stats, equal_to([(0, dict(splits), {"Dedup-duplicate": 1}), (1, {}, {})]))
    written = []
    for split in splits:
        records = tf.data.TFRecordDataset(str(out_dir / f"_bucket-{split}-00000.tfrecord"))
        assert len(list(records)) == splits[split]
        table = pq.read_table(str(parquet_dir / split))
        written += [tuple(r[c] for c in schema.COLUMNS) for r in table.to_pylist()]
        assert all(text_records.split_of(r[4]) == split for r in written[-splits[split] :])
    assert sorted(written) == sorted(kept)
    with gzip.open(out_dir / "dead_letters" / "Dedup-00000-of-00002.jsonl.gz", "rt", encoding="utf-8") as fh:
        assert [json.loads(line)["record"] for line in fh] == [list(duplicate)]

"""published: the cheap checks of a published version and the reads that name a damaged shard, through the zoo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acg2vec.datasets.published import (
    crc_checked,
    open_published,
    parquet_rows,
    read_parquet,
    repair_command,
    verify_published,
)
from acg2vec.integrity import DamagedFileError, write_checksums
from tests.damage import DAMAGES
from tests.evaluation.fakes import illustration_examples

pytestmark = pytest.mark.unit
SHARD = "acg_illustrations-validation.tfrecord-00001-of-00002"  # the second of two shards: 6 of 12 examples
REPAIR = "acg2vec build images --config 64"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny published version, ``datasets/acg_illustrations/64/1.0.0``, with two shards per split."""
    from acg2vec.datasets.acg_illustrations.tiny_dataset import write_tiny_dataset

    root = tmp_path_factory.mktemp("published")
    examples = illustration_examples(per_colour=4, size=64)
    vocabulary = [("red", "general", 4), ("solo", "general", 12)]
    return write_tiny_dataset(
        root / "datasets", {"validation": examples, "test": examples}, vocabulary, size=64, shards=2
    )


def damaged_copy(published: Path, tmp_path: Path, name: str, damage: str, *, checksums: bool = False) -> Path:
    copy = tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.0"
    shutil.copytree(published, copy)
    if checksums:
        write_checksums(copy)
    DAMAGES[damage](copy / name)
    return copy


def read_split(folder: Path, split: str = "validation") -> int:
    import tensorflow_datasets as tfds

    builder = open_published(str(folder))
    with crc_checked(str(folder), split):
        return sum(1 for _ in tfds.as_numpy(builder.as_dataset(split=split)))


def test_a_whole_version_verifies_and_reads(published: Path) -> None:
    found = verify_published(str(published))
    assert (found.name, found.version, found.repair) == ("acg_illustrations", "1.0.0", REPAIR)
    assert [len(found.splits[s]) for s in ("validation", "test")] == [2, 2] and found.examples("test") == 12
    assert read_split(published) == 12


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damage_to_a_shard_names_it_with_the_examples_lost(published: Path, tmp_path: Path, damage: str) -> None:
    folder = damaged_copy(published, tmp_path, SHARD, damage)
    with pytest.raises(DamagedFileError) as caught:
        read_split(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / SHARD} is damaged (") and message.endswith(f"repair it with `{REPAIR}`.")
    assert "examples of the validation split are lost" in message and "\n" not in message
    if damage in ("zero_bytes", "wrong_kind", "older_format"):
        assert "its 6 examples" in message
    # random_middle keeps the size: only the TFRecord CRCs, checked as the records are read, can find it.
    assert verify_published(str(published)).examples("validation") == 12  # the original is untouched


@pytest.mark.parametrize("name", ["dataset_info.json", "features.json"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damage_to_the_metadata_is_one_sentence_before_any_read(
    published: Path, tmp_path: Path, name: str, damage: str
) -> None:
    folder = damaged_copy(published, tmp_path, name, damage)
    with pytest.raises(DamagedFileError) as caught:
        verify_published(str(folder))
    message = str(caught.value)
    assert message.startswith(f"{folder / name} is damaged (") and message.endswith(f"repair it with `{REPAIR}`.")
    if damage == "older_format":
        assert "of a known format" in message and "an older acg2vec" in message


def test_checksums_find_changed_bytes_before_the_read(published: Path, tmp_path: Path) -> None:
    folder = damaged_copy(published, tmp_path, SHARD, "random_middle", checksums=True)
    with pytest.raises(DamagedFileError, match="checksum mismatch"):
        verify_published(str(folder))
    assert verify_published(str(folder), sha256=False).examples("validation") == 12  # sizes alone cannot see it


def test_a_curated_version_is_repaired_from_its_run(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.1"
    folder.mkdir(parents=True)
    curation = {"run_dir": "/w/curation/main", "made_for": {"version": "1.0.0"}}
    (folder / "metadata.json").write_text(json.dumps({"curation": curation}))
    assert repair_command(str(folder)) == (
        "acg2vec build images --apply-curation /w/curation/main --config 64 --from-version 1.0.0"
    )
    assert repair_command(str(tmp_path / "datasets" / "acg_text_pairs" / "1.0.0")) == "acg2vec build texts"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damage_to_a_parquet_part_is_named(tmp_path: Path, damage: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"anchor": [f"a{i}" for i in range(300)], "positive": ["b"] * 300}), path)
    assert parquet_rows(str(path), repair="acg2vec build texts") == 300
    DAMAGES[damage](path)
    with pytest.raises(DamagedFileError) as caught:
        read_parquet(str(path), repair="acg2vec build texts", lost="its pairs are lost").to_pylist()
    assert str(caught.value).startswith(f"{path} is damaged (")
    assert str(caught.value).endswith("its pairs are lost; repair it with `acg2vec build texts`.")


def test_the_trainers_input_pipeline_keeps_the_crc_check(published: Path, tmp_path: Path) -> None:
    """Nothing between the shards and a training step may swallow a failed CRC (no ``ignore_errors``)."""
    from acg2vec.trainers.image import input_pipeline as ip

    folder = damaged_copy(published, tmp_path, SHARD, "random_middle")
    builder = ip.open_dataset(str(tmp_path / "datasets"), "acg_illustrations/64")
    vocab = ip.load_vocab(builder)
    config = ip.InputConfig(image_size=32, batch_size=4, deterministic=True)
    ds = ip.make_dataset(builder, "validation", vocab, config=config, training=False)
    with (
        pytest.raises(DamagedFileError, match="TFRecord CRC check failed") as caught,
        crc_checked(str(folder), "validation"),
    ):
        for _ in ds:
            pass
    assert caught.value.path == str(folder / SHARD)


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "wrong_kind", "older_format"])
def test_a_damaged_entity_table_is_named_with_its_build(tmp_path: Path, damage: str) -> None:
    from acg2vec.datasets.acg_entities import records, schema
    from tests.datasets.acg_entities.test_records import _entities

    folder = records.write_entities(tmp_path / "entities", _entities())
    assert len(list(records.read_entities(folder))) == 3
    DAMAGES[damage](Path(folder) / schema.ENTITIES_FILE)
    with pytest.raises(DamagedFileError) as caught:
        list(records.read_entities(folder))
    assert str(caught.value).startswith(f"{folder}/{schema.ENTITIES_FILE} is damaged (")
    assert str(caught.value).endswith("the entity table cannot be read; repair it with `acg2vec build entities`.")


def test_a_version_on_a_remote_file_system_is_checked_by_size(published: Path, tmp_path: Path) -> None:
    """gs:// and s3:// versions are stat-ed, never downloaded to hash (TensorFlow's ram:// stands in for them)."""
    import tensorflow as tf

    local = damaged_copy(published, tmp_path, "README.md", "zero_bytes", checksums=True)
    remote = f"ram://{tmp_path.name}/acg_illustrations/64/1.0.0"
    for path in sorted(local.iterdir()):
        tf.io.gfile.makedirs(remote)
        tf.io.gfile.copy(str(path), f"{remote}/{path.name}", overwrite=True)
    assert verify_published(remote).examples("validation") == 12  # README.md: not in CHECKSUMS.json of this copy
    shard = f"{remote}/{SHARD}"
    with tf.io.gfile.GFile(shard, "rb") as fh:
        data = fh.read()
    with tf.io.gfile.GFile(shard, "wb") as fh:
        fh.write(data[: len(data) // 2])
    with pytest.raises(DamagedFileError, match=rf"^{shard} is damaged \(.* bytes where .* were written\)"):
        verify_published(remote)

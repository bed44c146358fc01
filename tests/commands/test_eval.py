"""``acg2vec eval ...`` through typer's CliRunner, on tiny artefacts in a fresh workdir."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.errors import UserError
from tests.evaluation.fakes import make_illustrations_dataset, make_image_model, make_sentence_transformer

runner = CliRunner()


def invoke(workdir, *args):
    return runner.invoke(app, ["--workdir", str(workdir), "--quiet", "eval", *args])


@pytest.mark.integration
def test_eval_ann_on_a_vectors_file(workdir):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 16)).astype(np.float32)
    vectors = centres[rng.integers(0, 20, 3000)] + 0.1 * rng.standard_normal((3000, 16)).astype(np.float32)
    np.save(workdir / "vectors.npy", vectors)
    result = invoke(
        workdir,
        "ann",
        "--vectors",
        str(workdir / "vectors.npy"),
        "--queries",
        "200",
        "--factory",
        "IVF32,Flat",
        "--target-speedup",
        "1",
        "--run",
        "r1",
    )
    assert result.exit_code == 0, result.output
    assert "IVF32,Flat" in result.output and "report:" in result.output
    metrics = json.loads((workdir / "eval" / "r1" / "metrics.json").read_text())
    assert metrics["ann"]["n"] == 2800 and metrics["ann"]["chooser"]["factory"] == "Flat"
    assert (workdir / "eval" / "r1" / "ann_recall_qps.png").is_file()


@pytest.mark.integration
def test_eval_tagger_and_images_share_one_report(workdir):
    make_illustrations_dataset(workdir)
    make_image_model(workdir / "models" / "illust2vec")
    result = invoke(workdir, "tagger")
    assert result.exit_code == 0, result.output
    assert "illust2vec" in result.output and "macro mAP" in result.output
    result = invoke(workdir, "images", "-k", "3", "--min-jaccard", "0.7")
    assert result.exit_code == 0, result.output
    assert "colour histogram" in result.output
    run = workdir / "eval" / "main"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"tagger:illust2vec", "images:illust2vec"}
    report = (run / "report.md").read_text()
    assert report.index("Tagging: illust2vec") < report.index("Image retrieval: illust2vec")
    assert "tagger_pr_illust2vec.png" in report and "images_precision_illust2vec.png" in report


@pytest.mark.integration
def test_eval_tagger_scores_a_release_as_an_extra_row(workdir, tmp_path):
    from tests.trainers.image.release_fakes import wd_onnx

    make_illustrations_dataset(workdir, splits=("validation", "test"))
    make_image_model(workdir / "models" / "deepdanbooru")
    release = tmp_path / "wd-vit-tagger-v3"
    release.mkdir()
    wd_onnx(release / "model.onnx", 16, np.full((3, 2), 0.01, np.float32), np.zeros(2, np.float32))
    (release / "selected_tags.csv").write_text("tag_id,name,category,count\n1,red,0,30\n2,general,9,60\n")
    result = invoke(workdir, "tagger", "--release", str(release))
    assert result.exit_code == 0, result.output
    assert "wd-tagger" in result.output and "release" in result.output  # the summary row names its kind
    metrics = json.loads((workdir / "eval" / "main" / "metrics.json").read_text())
    assert {"tagger:deepdanbooru", "tagger:wd-vit-tagger-v3"} <= set(metrics)
    (release / "selected_tags.csv").write_text("tag_id,name,category,count\n1,red,0,30\n")
    result = invoke(workdir, "tagger", "--release", str(release))
    assert isinstance(result.exception, UserError) and "lists 1 tags but the model" in str(result.exception)


@pytest.mark.integration
def test_eval_tagger_skips_embedding_models_and_scores_the_test_split(workdir):
    make_illustrations_dataset(workdir, splits=("validation", "test"))
    make_image_model(workdir / "models" / "deepdanbooru")
    make_image_model(workdir / "models" / "illust2vec", embedding_only=True)
    result = invoke(workdir, "tagger")
    assert result.exit_code == 0, result.output
    metrics = json.loads((workdir / "eval" / "main" / "metrics.json").read_text())
    assert "tagger:deepdanbooru" in metrics and "tagger:illust2vec" not in metrics
    assert metrics["tagger:deepdanbooru"]["split"] == "test"
    result = invoke(workdir, "images", "--run", "r2")  # the embedding model is still there for retrieval
    assert result.exit_code == 0, result.output
    assert "images:illust2vec" in json.loads((workdir / "eval" / "r2" / "metrics.json").read_text())


@pytest.mark.integration
def test_eval_texts(workdir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = [("涼宮ハルヒの憂鬱", "凉宫春日的忧郁"), ("機動戦士ガンダム", "机动战士高达"), ("けいおん!", "轻音少女")]
    folder = workdir / "datasets" / "parquet" / "acg_text_pairs" / "validation"
    folder.mkdir(parents=True)
    rows = [
        dict(
            anchor=a,
            positive=p,
            pair_type="title_ja-title_zh",
            source="bangumi",
            entity_id=f"e{i}",
            anchor_lang="ja",
            positive_lang="zh",
        )
        for i, (a, p) in enumerate(pairs)
    ]
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-00000.parquet")
    (folder.parent / "build_metadata.json").write_text(
        "{}", encoding="utf-8"
    )  # marks the corpus complete, as a build does
    make_sentence_transformer(workdir / "models" / "acgvoc2vec", texts=[t for pair in pairs for t in pair])
    result = invoke(workdir, "texts", "--split", "validation")
    assert result.exit_code == 0, result.output
    assert "acgvoc2vec" in result.output and "lexical" in result.output
    assert (workdir / "eval" / "main" / "texts_pair_types.png").is_file()
    texts = json.loads((workdir / "eval" / "main" / "metrics.json").read_text())["texts"]
    assert set(texts["scorers"]) == {"dense", "lexical", "hybrid"}  # all three by default
    assert (texts["rows_read"], texts["rows_used"], texts["rows_dropped"]) == (3, 3, {})
    assert texts["pair_types"] == {"title_ja-title_zh": {"queries": 3, "candidates": 3}}
    # The model's figures stand beside the plain TF-IDF baseline's, overall and per pair type.
    model, baseline = texts["encoders"]["acgvoc2vec"], texts["encoders"]["lexical (char n-gram TF-IDF)"]
    for scores in (model, baseline, *texts["encoders"].values()):
        overall = scores["overall"]
        assert overall == scores["per_pair_type"]["title_ja-title_zh"]  # one pair type: the same figures
        assert overall["queries"] == 3 and overall["recall_at_10"] == 1.0  # 3 candidates are all in the top 10
        assert overall["accuracy_at_1"] in (0.0, 1 / 3, 2 / 3, 1.0)
        assert 1 / 3 <= overall["mrr_at_10"] <= 1.0 and overall["accuracy_at_1"] <= overall["mrr_at_10"]
    # 涼宮 / 憂鬱 share no character with 凉宫 / 忧郁 until script normalisation: only the normalised
    # baseline is sure of every title, and the plain one is not.
    normalised = texts["encoders"][texts["scorers"]["lexical"]]["overall"]
    assert normalised["accuracy_at_1"] == 1.0 > baseline["overall"]["accuracy_at_1"]
    # --scorer picks the TextSearcher scorers; the plain TF-IDF baseline always runs.
    result = invoke(workdir, "texts", "--split", "validation", "--scorer", "lexical", "--run", "lex")
    assert result.exit_code == 0, result.output
    texts = json.loads((workdir / "eval" / "lex" / "metrics.json").read_text())["texts"]
    assert set(texts["encoders"]) == {"lexical (normalised char n-gram TF-IDF)", "lexical (char n-gram TF-IDF)"}
    result = invoke(workdir, "texts", "--split", "validation", "--scorer", "bm25")
    assert isinstance(result.exception, UserError) and "Unknown scorer" in str(result.exception)


@pytest.mark.unit
def test_missing_inputs_are_user_errors(workdir):
    result = invoke(workdir, "tagger")
    assert isinstance(result.exception, UserError) and "acg2vec train tagger" in str(result.exception)
    result = invoke(workdir, "ann", "--vectors", str(workdir / "nope.npy"))
    assert isinstance(result.exception, UserError)
    result = invoke(workdir, "texts", "--model", str(workdir))
    assert isinstance(result.exception, UserError) and "acg2vec build texts" in str(result.exception)


# -- damaged inputs: one sentence, exit status 3, and the repair the sentence gives works ---------------------------


def _repair_of(error) -> list[str]:
    """The command a DamagedFileError names, as CLI arguments (without the leading `acg2vec`)."""
    assert error.repair.startswith("acg2vec ")
    return error.repair.split()[1:]


@pytest.mark.integration
def test_eval_tagger_names_a_damaged_shard_and_exits_3(workdir):
    from acg2vec.integrity import DamagedFileError
    from tests.damage import cut_short

    version = make_illustrations_dataset(workdir)
    make_image_model(workdir / "models" / "deepdanbooru")
    shard = version / "acg_illustrations-test.tfrecord-00000-of-00001"
    cut_short(shard)
    result = invoke(workdir, "tagger")
    error = result.exception
    assert isinstance(error, DamagedFileError) and error.exit_code == 3  # acg2vec.cli.main exits with it
    assert str(error).startswith(f"{shard} is damaged (it ends in the middle of a record: the file was cut short)")
    assert "of its 12 examples of the test split are lost" in str(error)
    assert error.repair == "acg2vec build images --config 64"
    assert not (workdir / "eval" / "main" / "metrics.json").exists()  # no report of a part of the split


@pytest.mark.integration
def test_eval_texts_names_a_damaged_part_and_exits_3(workdir):
    from acg2vec.integrity import DamagedFileError
    from tests.damage import zero_bytes
    from tests.datasets.acg_text_pairs.test_readers import corpus_with_metadata

    corpus = corpus_with_metadata(workdir)
    part = corpus / "validation" / "part-00000.parquet"
    zero_bytes(part)
    result = invoke(workdir, "texts", "--split", "validation")
    error = result.exception
    assert isinstance(error, DamagedFileError) and error.exit_code == 3
    assert str(error) == (
        f"{part} is damaged (it is empty (0 bytes)); the validation pairs in it are lost; "
        "repair it with `acg2vec build texts`."
    )


@pytest.mark.slow  # two image builds from raw/ (about 15 s on a quiet machine)
def test_the_repair_a_damaged_shard_names_rebuilds_it_and_eval_tagger_passes(workdir):
    from acg2vec.integrity import DamagedFileError
    from tests.beam_pipelines.image_fakes import simple_raw
    from tests.damage import random_middle

    simple_raw(workdir, 8)
    # Loose rules for eight tiny posts: the repair must rebuild with them (metadata.json records them).
    rules = ["--min-side", "32", "--min-general-tags", "3", "--min-images-per-tag", "2"]
    build = ["--workdir", str(workdir), "--quiet", "build", "images", "--config", "64", *rules, "--mode", "in_memory"]
    assert runner.invoke(app, build).exit_code == 0
    make_image_model(workdir / "models" / "deepdanbooru")
    assert invoke(workdir, "tagger").exit_code == 0
    version = workdir / "datasets" / "acg_illustrations" / "64" / "1.0.0"
    random_middle(version / "acg_illustrations-train.tfrecord-00000-of-00001")  # curate and train read train
    random_middle(version / "acg_illustrations-test.tfrecord-00000-of-00001")
    result = invoke(workdir, "tagger")
    assert isinstance(result.exception, DamagedFileError), result.output
    # Found before any read by the build's CHECKSUMS.json, or by the TFRecord CRCs for a folder without one.
    assert any(what in str(result.exception) for what in ("checksum mismatch", "TFRecord CRC check failed"))
    assert result.exception.repair == f"acg2vec build images --config 64 {' '.join(rules)}"
    repair = runner.invoke(
        app, ["--workdir", str(workdir), "--quiet", *_repair_of(result.exception), "--mode", "in_memory"]
    )
    assert repair.exit_code == 0, repair.output
    result = invoke(workdir, "tagger")
    assert result.exit_code == 0, result.output
    assert json.loads((workdir / "eval" / "main" / "metrics.json").read_text())["tagger:deepdanbooru"]["images"] == 2


@pytest.mark.slow  # a text build from the dummy raw data (about 15 s on a quiet machine)
def test_the_repair_a_damaged_part_names_rebuilds_it_and_eval_texts_passes(workdir):
    import shutil

    from acg2vec.datasets.acg_text_pairs import records as text_records
    from acg2vec.integrity import DamagedFileError
    from tests.damage import cut_short

    shutil.copytree(Path(text_records.__file__).parent / "dummy_data", workdir / "raw")
    build = ["--workdir", str(workdir), "--quiet", "build", "texts", "--mode", "in_memory"]
    assert runner.invoke(app, build).exit_code == 0
    corpus = workdir / "datasets" / "parquet" / "acg_text_pairs"
    texts = [row for p in corpus.glob("validation/*.parquet") for row in pq_texts(p)]
    make_sentence_transformer(workdir / "models" / "acgvoc2vec", texts=texts)
    part = sorted(corpus.glob("validation/*.parquet"))[0]
    cut_short(part)
    result = invoke(workdir, "texts", "--split", "validation", "--scorer", "dense")
    assert isinstance(result.exception, DamagedFileError) and str(part) in str(result.exception)
    repair = runner.invoke(
        app, ["--workdir", str(workdir), "--quiet", *_repair_of(result.exception), "--mode", "in_memory"]
    )
    assert repair.exit_code == 0, repair.output
    result = invoke(workdir, "texts", "--split", "validation", "--scorer", "dense")
    assert result.exit_code == 0, result.output
    assert json.loads((workdir / "eval" / "main" / "metrics.json").read_text())["texts"]["rows_read"] > 0


def pq_texts(path) -> list[str]:
    import pyarrow.parquet as pq

    return [t for row in pq.read_table(path, columns=["anchor", "positive"]).to_pylist() for t in row.values()]

"""Reading images for `predict` / `embed`: one file at a time, a pixel limit from the header, every skip named.

The decompression-bomb tests run the real command line in a subprocess and measure its peak RSS with
``os.wait4`` (the resource usage of that one child).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from PIL import Image

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary, write_thresholds
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.imaging import MAX_PIXELS
from acg2vec.trainers.image import export, predict
from acg2vec.trainers.image.models import deepdanbooru
from tests.trainers.image.exported_tagger import export_tiny_tagger, write_image_files

from .conftest import TINY_DEEPDANBOORU
from .tiny_dataset import make_image

NAMES = ["red", "green", "blue", "yellow"]
BOMB_SIDE = 20_000
# Decoded, the bomb is 1.1 GiB of pixels; refused from its header, it may add no more than this to peak RSS.
BOMB_ALLOWANCE_BYTES = 64 * 2**20


def write_png_bomb(path: Path, side: int = BOMB_SIDE, rows_per_block: int = 100) -> Path:
    """A valid ``side`` x ``side`` RGB PNG of one colour: ~1 MB on disk, 1.2 GB once decoded.

    Written in a few seconds without holding the pixels: after a full flush the compressor starts afresh, so the
    deflate bytes of one block of identical rows can be repeated; the zlib checksum is computed block by block.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    block = (b"\x00" + b"\x80" * (side * 3)) * rows_per_block  # filter byte 0, then a grey row
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(side // rows_per_block):
        adler = zlib.adler32(block, adler)
    stream = b"\x78\xda" + segment * (side // rows_per_block) + tail + struct.pack(">I", adler)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", stream)
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny DeepDanbooru tagger exported the way ``acg2vec train tagger`` exports it."""
    model_dir = tmp_path_factory.mktemp("models") / "deepdanbooru"
    model = deepdanbooru.make_model((32, 32, 3), len(NAMES), **TINY_DEEPDANBOORU)
    embed_model = export.embedding_model(model, deepdanbooru.feature_tensor(model))
    export.export_image_model(str(model_dir), image_size=32, embed_model=embed_model, tag_model=model)
    vocab = TagVocabulary(NAMES, ["general"] * 4, [4, 3, 2, 1])
    vocab.write(str(model_dir))
    thresholds = {"red": 0.0, "green": 1.1, "blue": 0.0, "yellow": 1.1}
    write_thresholds(str(model_dir), method="test", default=0.5, thresholds=thresholds)
    return model_dir


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    good = folder / "1000.png"
    good.write_bytes(tf.io.encode_png(make_image(rng, ["red"], 48)).numpy())
    broken = folder / "broken.jpg"
    broken.write_bytes(b"not an image")
    cut = folder / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])
    return {"good": good, "broken": broken, "cut": cut, "bomb": write_png_bomb(folder / "bomb.png")}


# A small launcher runs the command and reports its peak RSS: measured from the test process itself, the child's
# ru_maxrss would start at the test process's own size (a fork copies the parent's resident pages before exec).
MEASURE = """
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024], fh)  # ru_maxrss is in KiB on Linux
"""


def run_cli_measured(*args: str, env_home: Path, out_dir: Path) -> tuple[int, str, str, int]:
    """Run ``acg2vec.cli.main`` with stdout/stderr to files: (exit code, stdout, stderr, peak RSS in bytes)."""
    env = {**os.environ, "ACG2VEC_HOME": str(env_home)}
    out, err, result = out_dir / "stdout.txt", out_dir / "stderr.txt", out_dir / "rusage.json"
    with out.open("w") as stdout, err.open("w") as stderr:
        command = [sys.executable, "-c", "from acg2vec.cli import main; main()", *args]
        subprocess.run([sys.executable, "-c", MEASURE, str(result), *command], env=env, stdout=stdout, stderr=stderr,
                       check=True, timeout=600)  # fmt: skip
    code, peak = json.loads(result.read_text())
    return code, out.read_text(), err.read_text(), peak


@pytest.mark.unit
def test_a_bomb_is_refused_from_its_header_and_every_skip_is_named(files, tmp_path):
    named = []
    order = [files["good"], files["bomb"], files["broken"], files["cut"], tmp_path / "gone.png"]
    with DeadLetters(tmp_path / "dead.jsonl") as dead:
        read = list(predict.read_images(order, dead, on_skip=lambda p, r, d: named.append((p.name, r))))
    assert [p for p, _ in read] == [files["good"]]
    assert named == [("bomb.png", "image-too-large"), ("broken.jpg", "undecodable-image"),
                     ("cut.png", "undecodable-image"), ("gone.png", "unreadable-file")]  # fmt: skip
    assert dead.counts == {"image-too-large": 1, "undecodable-image": 2, "unreadable-file": 1}
    letters = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert letters[0]["record"]["path"] == str(files["bomb"])
    assert letters[0]["detail"] == f"400000000 pixels > {MAX_PIXELS} pixels"
    # The limit is the caller's: a 48 x 48 image is too large for a 2,000-pixel limit.
    with DeadLetters(None) as dead:
        assert list(predict.read_images([files["good"]], dead, max_pixels=2000)) == []
    assert dead.counts == {"image-too-large": 1}


@pytest.mark.integration
def test_a_transparent_png_is_tagged_as_the_server_sees_it_on_white(model_dir, tmp_path):
    # A red square on a transparent background whose hidden colour is black: TensorFlow's decoder alone would drop
    # the alpha and show black; predict hands the model imaging's decode (white), as the server does.
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[12:36, 12:36] = (220, 30, 30, 255)
    transparent, white = tmp_path / "transparent.png", tmp_path / "white.png"
    Image.fromarray(rgba, "RGBA").save(transparent)
    on_white = np.full((48, 48, 3), 255, np.uint8)
    on_white[12:36, 12:36] = (220, 30, 30)
    Image.fromarray(on_white).save(white)
    with DeadLetters(None) as dead:
        results = list(predict.predict_tags([transparent, white], model_dir=str(model_dir), top_k=4, dead=dead))
    scores = [{tag.name: tag.score for tag in result.tags} for result in results]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)


@pytest.mark.unit
def test_files_are_read_as_the_batches_are_taken(files, tmp_path):
    """Only the batch being used is in memory: a file is not opened before its batch is asked for."""
    opened = []

    def paths():
        for path in [files["good"]] * 5:
            opened.append(path)
            yield path

    with DeadLetters(None) as dead:
        batches = predict._batches(predict.read_images(paths(), dead), 2)
        first = next(batches)
        assert len(first) == 2 and len(opened) == 2
        assert [len(b) for b in batches] == [2, 1] and len(opened) == 5


@pytest.mark.unit
def test_bad_sizes_are_refused_before_any_work(model_dir, files, tmp_path):
    with DeadLetters(None) as dead:
        for kwargs, option in (({"batch_size": 0}, "--batch-size"), ({"top_k": -3}, "--top-k"),
                               ({"max_pixels": 0}, "--max-pixels")):  # fmt: skip
            with pytest.raises(UserError, match=option):
                predict.predict_tags([files["good"]], model_dir=str(model_dir), dead=dead, **kwargs)
        with pytest.raises(UserError, match="--batch-size"):
            predict.embed_files([files["good"]], model_dir=str(model_dir), out=str(tmp_path / "v"), batch_size=-1,
                                dead=dead)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
@pytest.mark.parametrize("command", ["predict", "embed"])
def test_a_decompression_bomb_through_the_cli_adds_no_memory_and_is_named(command, model_dir, files, tmp_path):
    home = tmp_path / "home"
    inputs = [str(files["good"]), str(files["bomb"]), str(files["broken"])]
    args = [command, *inputs, "--model", str(model_dir)]
    if command == "embed":
        args += ["--out", str(tmp_path / "vectors")]
    code, out, err, peak = run_cli_measured(*args, env_home=home, out_dir=tmp_path)
    assert code == 0, err
    # Importing TensorFlow alone takes 730 MiB to 1 GiB, depending on the machine's cores (thread pools and
    # allocator arenas), so the bound is relative: the bomb must add nothing to the same run without it.
    base_dir = tmp_path / "baseline"
    base_dir.mkdir()
    base_args = [str(base_dir / "vectors") if a == str(tmp_path / "vectors") else a for a in args
                 if a not in (str(files["bomb"]), str(files["broken"]))]  # fmt: skip
    code, _, _, baseline = run_cli_measured(*base_args, env_home=tmp_path / "home2", out_dir=base_dir)
    assert code == 0 and peak - baseline < BOMB_ALLOWANCE_BYTES, (
        f"{peak / 2**20:.0f} MiB vs {baseline / 2**20:.0f} MiB"
    )
    assert f"skipped {files['bomb']}: image-too-large (400000000 pixels > 64000000 pixels)" in err
    assert f"skipped {files['broken']}: undecodable-image" in err
    if command == "predict":
        assert out.startswith(f"{files['good']}: ") and len(out.splitlines()) == 1
        letters_path = home / "logs" / "dead_letters" / "predict.jsonl.gz"  # predict has no output folder
    else:
        assert np.load(tmp_path / "vectors.npy").shape[0] == 1
        letters_path = tmp_path / "dead_letters" / "embed.jsonl.gz"  # beside embed's output
    assert f"listed in {letters_path}" in err + out
    with gzip.open(letters_path, "rt", encoding="utf-8") as fh:
        letters = [json.loads(line) for line in fh]
    assert {d["step"] for d in letters} == {command}
    reasons = {d["record"]["path"]: d["reason"] for d in letters}
    assert reasons == {str(files["bomb"]): "image-too-large", str(files["broken"]): "undecodable-image"}
    print(
        f"{command}: peak RSS {peak / 2**20:.0f} MiB with a {BOMB_SIDE}x{BOMB_SIDE} PNG, {baseline / 2**20:.0f} without"
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_tiny_tagger(tmp_path_factory.mktemp("models") / "deepdanbooru")


@pytest.fixture
def image_files(tmp_path):
    return write_image_files(tmp_path)


@pytest.mark.integration
def test_predict_uses_tuned_thresholds_or_top_k_and_counts_bad_files(exported, image_files):
    model_dir = str(exported[0])
    with DeadLetters(None) as dead:
        tuned = list(predict.predict_tags(image_files, model_dir=model_dir, dead=dead))
    assert dead.counts == {"undecodable-image": 1}
    assert [r.path for r in tuned] == [str(p) for p in image_files[:3]]
    # thresholds 0 and 1.1: exactly red and blue, whatever the untrained scores are
    assert all(
        [t.name for t in r.tags] == sorted(["red", "blue"], key=lambda n: -dict((t.name, t.score) for t in r.tags)[n])
        for r in tuned
    )
    with DeadLetters(None) as dead:
        top = list(predict.predict_tags(image_files[:3], model_dir=model_dir, top_k=3, dead=dead))
    for result in top:
        scores = [t.score for t in result.tags]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)


@pytest.mark.integration
def test_embed_writes_npy_and_parquet_with_ids(exported, image_files, tmp_path):
    out = tmp_path / "vectors" / "images"
    with DeadLetters(tmp_path / "dead.jsonl") as dead:
        written = predict.embed_files(image_files, model_dir=str(exported[0]), out=str(out), batch_size=2, dead=dead)
    assert written == 3 and dead.total == 1  # read 4 = written 3 + dropped 1
    vectors = np.load(f"{out}.npy")
    table = pq.read_table(f"{out}.parquet").to_pydict()
    assert vectors.shape == (3, exported[2].output.shape[-1]) and vectors.dtype == np.float32
    assert table["id"] == ["1000", "1001", "1002"] and table["row"] == [0, 1, 2]
    np.testing.assert_allclose(np.array(table["vector"], np.float32), vectors)
    assert json.loads((tmp_path / "dead.jsonl").read_text().splitlines()[0])["reason"] == "undecodable-image"

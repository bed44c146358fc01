"""A tiny DeepDanbooru tagger exported the way ``acg2vec train tagger`` exports it, and images to feed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary, write_thresholds
from acg2vec.trainers.image import export
from acg2vec.trainers.image.models import deepdanbooru
from tests.trainers.image.conftest import TINY_DEEPDANBOORU
from tests.trainers.image.tiny_dataset import make_image

NAMES = ["red", "green", "blue", "yellow"]


def export_tiny_tagger(model_dir: Path):
    """Export to ``model_dir``; thresholds 0 (red, blue) and 1.1 (green, yellow). Returns (dir, model, embedder)."""
    model = deepdanbooru.make_model((32, 32, 3), len(NAMES), **TINY_DEEPDANBOORU)
    embed_model = export.embedding_model(model, deepdanbooru.feature_tensor(model))
    with export.model_folder(str(model_dir)) as out:  # whole, with CHECKSUMS.json, as training writes it
        export.export_image_model(out, image_size=32, embed_model=embed_model, tag_model=model)
        vocab = TagVocabulary(NAMES, ["general"] * 4, [4, 3, 2, 1])
        vocab.write(out)
        thresholds = {"red": 0.0, "green": 1.1, "blue": 0.0, "yellow": 1.1}
        write_thresholds(out, method="test", default=0.5, thresholds=thresholds)
    return model_dir, model, embed_model


def write_image_files(folder: Path) -> list[Path]:
    """Three non-square images (JPEG and PNG, named by post id) and one file that is not an image, last."""
    rng = np.random.default_rng(1)
    paths = []
    for i, present in enumerate((["red"], ["blue", "green"], ["yellow"])):
        image = make_image(rng, present, 48)[:, :40]  # not square: serving pads it like the dataset
        path = folder / f"{1000 + i}.png" if i % 2 else folder / f"{1000 + i}.jpg"
        data = tf.io.encode_png(image) if i % 2 else tf.io.encode_jpeg(image)
        path.write_bytes(data.numpy())
        paths.append(path)
    bad = folder / "broken.jpg"
    bad.write_bytes(b"not an image")
    return [*paths, bad]

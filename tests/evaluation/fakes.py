"""Tiny real artefacts in the formats the evaluators read, with right answers known by construction.

- ``make_illustrations_dataset``: a TFDS ``acg_illustrations`` folder (written by the dataset's own tiny writer,
  ``acg2vec/datasets/acg_illustrations/tiny_dataset.py``) of solid-ish colour images tagged by their colour.
- ``make_image_model``: a SavedModel with the image models' signatures (``serving_default`` and ``embed`` on
  ``image_bytes``) that scores the colour tags from the mean colour, plus selected_tags.csv and thresholds.json.
- ``make_sentence_transformer``: a one-layer BERT sentence-transformers folder built offline from a char vocab.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
# Model vocabulary in output order: three colour tags, a tag no image has, and a copyright tag.
MODEL_TAGS = [
    ("red", "general", 30),
    ("green", "general", 20),
    ("blue", "general", 10),
    ("monochrome", "general", 5),
    ("sample_series", "copyright", 60),
]


def colour_image(colour: str, seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array(COLOURS[colour], dtype=np.float32)
    image = base + rng.normal(0, 12, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def illustration_examples(per_colour: int = 4, size: int = 64) -> list[dict]:
    examples = []
    post_id = 1
    for colour in COLOURS:
        for i in range(per_colour):
            examples.append(
                {
                    "id": post_id,
                    "md5": f"{post_id:032x}",
                    "image": colour_image(colour, post_id, size),
                    "tags": [colour, "solo"] + (["smile"] if i % 2 else []),
                    "characters": [],
                    "copyrights": ["sample_series"],
                    "artists": [],
                    "rating": "general",
                    "score": i,
                    "pixiv_id": -1,
                    "pixiv_views": -1,
                    "pixiv_bookmarks": -1,
                    "pixiv_likes": -1,
                    "pixiv_sanity_level": -1,
                }
            )
            post_id += 1
    return examples


def make_illustrations_dataset(
    workdir: Path, *, size: int = 64, per_colour: int = 4, splits: tuple[str, ...] = ("validation", "test")
) -> Path:
    """Write ``datasets/acg_illustrations/<size>/1.0.0/`` with the same images in each of ``splits``."""
    from acg2vec.datasets.acg_illustrations.tiny_dataset import write_tiny_dataset

    examples = illustration_examples(per_colour, size)
    return write_tiny_dataset(Path(workdir) / "datasets", dict.fromkeys(splits, examples), MODEL_TAGS, size=size)


def make_image_model(
    model_dir: Path, *, thresholds: dict[str, float] | None = None, embedding_only: bool = False
) -> Path:
    """A SavedModel scoring the colour tags from the mean colour; its embedding is the mean colour.

    ``embedding_only``: exported as illust2vec is, without ``selected_tags.csv`` and ``thresholds.json``.
    """
    import tensorflow as tf

    num_tags = len(MODEL_TAGS)

    class ColourTagger(tf.Module):
        def _mean_colour(self, image_bytes):
            def one(data):
                image = tf.io.decode_image(data, channels=3, expand_animations=False)
                return tf.reduce_mean(tf.cast(image, tf.float32), axis=[0, 1]) / 255.0

            return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([3], tf.float32))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serving(self, image_bytes):
            rgb = self._mean_colour(image_bytes)
            # Colour tags: how much a channel stands out; monochrome never; the series tag always likely.
            share = rgb / (tf.reduce_sum(rgb, axis=1, keepdims=True) + 1e-6)
            batch = tf.shape(rgb)[0]
            probs = tf.concat([share, tf.fill([batch, 1], 0.01), tf.fill([batch, 1], 0.9)], axis=1)
            return {"probabilities": tf.ensure_shape(probs, [None, num_tags])}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def embed(self, image_bytes):
            return {"embedding": self._mean_colour(image_bytes)}

    model_dir = Path(model_dir)
    module = ColourTagger()
    if embedding_only:  # as acg2vec exports illust2vec: ``embed`` is also the default signature, no tag outputs
        tf.saved_model.save(
            module, str(model_dir), signatures={"serving_default": module.embed, "embed": module.embed}
        )
        return model_dir
    tf.saved_model.save(module, str(model_dir), signatures={"serving_default": module.serving, "embed": module.embed})
    TagVocabulary.from_rows(MODEL_TAGS).write(str(model_dir))
    thresholds = thresholds if thresholds is not None else {name: 0.5 for name, _, _ in MODEL_TAGS}
    (model_dir / "thresholds.json").write_text(
        json.dumps({"method": "f1", "default": 0.5, "thresholds": thresholds}), encoding="utf-8"
    )
    return model_dir


def jpeg_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_sentence_transformer(model_dir: Path, *, texts: list[str], dim: int = 16) -> Path:
    """A one-layer BERT with a character vocabulary and mean pooling, saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizer

    model_dir = Path(model_dir)
    bert_dir = model_dir.parent / (model_dir.name + "-bert")
    bert_dir.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for text in texts for c in text.lower() if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars]
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(bert_dir / "vocab.txt")).save_pretrained(str(bert_dir))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=dim,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * dim,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(bert_dir))
    word = models.Transformer(str(bert_dir), max_seq_length=64)
    pooling = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(model_dir))
    return model_dir

"""Export: a SavedModel whose signatures take encoded image bytes (the tag list and thresholds beside it are
written by :mod:`acg2vec.datasets.acg_illustrations.selected_tags`), and the model folder's integrity.

A model folder is written whole or not at all (:func:`model_folder`: :func:`acg2vec.integrity.atomic_folder`,
with ``CHECKSUMS.json`` recording every file), and :func:`verify_model_folder` checks it before anything loads
it (``predict``, ``embed``, ``eval``, ``serve``, ``curate``, ``index`` all load through
:func:`acg2vec.trainers.image.image_model.load_image_model`, which calls it).

Signatures (all take ``image_bytes``: tf.string [None], encoded JPEG / PNG):
``serving_default`` -> {"probabilities": float32 [None, num_tags]}, ``embed`` -> {"embedding": float32
[None, dim]}; deepix adds ``heads`` -> {"rating": [None, 4], "popularity": [None, 3]}. An embedding-only model
(illust2vec) has ``embed`` also as ``serving_default``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from acg2vec.integrity import atomic_folder, verify_checksums

EXPORT_INFO_FILE = "export.json"
KERAS_MODEL_FILE = "model.keras"  # a DeepDanbooru tagger's Keras model, the starting point of deepix
TRAINING_ARGS_FILE = "training_args.json"


@contextlib.contextmanager
def model_folder(model_dir: str) -> Iterator[str]:
    """Yield the folder to write a model into: a temporary folder beside ``model_dir`` that replaces it, with
    ``CHECKSUMS.json``, only once every file is written (the previous model stays whole until then; a full disk is
    :class:`acg2vec.integrity.DiskFullError`). A remote ``model_dir`` (gs://, s3://) is written in place."""
    if "://" in model_dir:
        yield model_dir
        return
    with atomic_folder(model_dir) as tmp:
        yield str(tmp)


def repair_command(model_dir: str | Path) -> str:
    """The command that writes ``model_dir`` again, from its ``training_args.json`` when that still reads (else
    from the folder's name): ``acg2vec train tagger --arch ... --model-dir ...`` or ``acg2vec train deepix ...``."""
    folder = Path(model_dir)
    try:
        args = json.loads((folder / TRAINING_ARGS_FILE).read_text(encoding="utf-8"))
        model = str(args["model"])
    except (OSError, ValueError, KeyError, TypeError):
        args, model = {}, folder.name
    if args.get("exported_from"):  # illust2vec, exported by a deepix run
        return f"acg2vec train deepix --model-dir {args['exported_from']} --illust2vec-dir {folder}"
    if model == "illust2vec":
        return f"acg2vec train deepix --illust2vec-dir {folder}"
    if model == "deepix":
        return f"acg2vec train deepix --model-dir {folder}"
    arch = f" --arch {model}" if model in ("alt_i2v", "deepdanbooru") else ""
    return f"acg2vec train tagger{arch} --model-dir {folder}"


def verify_model_folder(model_dir: str | Path) -> list[str]:
    """Check an exported model folder against its ``CHECKSUMS.json`` (sizes and SHA-256 of every file); returns
    the files checked. A damaged or missing file raises :class:`acg2vec.integrity.DamagedFileError`: the file,
    what is wrong, "the model cannot be used" and the command that trains it again. A folder exported before
    acg2vec recorded checksums passes (the loaders' own checks still apply)."""
    if "://" in str(model_dir):
        return []
    return verify_checksums(model_dir, what="the model", repair=repair_command(model_dir))


def embedding_model(model, feature_tensor):
    """``model``'s input -> pooled ``feature_tensor`` (global average pooling of a feature map; a vector as is)."""
    import keras

    x = feature_tensor
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    return keras.Model(model.inputs[0], x, name=f"{model.name}_embedding")


def export_image_model(
    path: str,
    *,
    image_size: int,
    embed_model,
    tag_model=None,
    tag_output: str | None = None,
    heads: dict[str, str] | None = None,
) -> None:
    """Write the SavedModel to ``path``. ``tag_model`` gives probabilities (``tag_output`` picks a dict output);
    ``heads`` maps extra output names of ``tag_model`` into the ``heads`` signature."""
    import keras
    import tensorflow as tf

    from acg2vec.trainers.image.augment import decode_any_to_square

    spec = tf.TensorSpec([None], tf.string, name="image_bytes")

    def images_from(image_bytes):
        return tf.map_fn(
            lambda b: decode_any_to_square(b, size=image_size),
            image_bytes,
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
        )

    archive = keras.export.ExportArchive()
    archive.track(embed_model)

    @tf.function(input_signature=[spec])
    def embed(image_bytes):
        vectors = embed_model(images_from(image_bytes), training=False)
        return {"embedding": tf.cast(vectors, tf.float32)}

    archive.add_endpoint(name="embed", fn=embed)
    if tag_model is None:
        archive.add_endpoint(name="serving_default", fn=embed)
    else:
        archive.track(tag_model)

        def outputs_of(image_bytes):
            out = tag_model(images_from(image_bytes), training=False)
            return out

        @tf.function(input_signature=[spec])
        def probabilities(image_bytes):
            out = outputs_of(image_bytes)
            scores = out[tag_output] if tag_output else out
            return {"probabilities": tf.cast(scores, tf.float32)}

        archive.add_endpoint(name="serving_default", fn=probabilities)
        if heads:

            @tf.function(input_signature=[spec])
            def head_outputs(image_bytes):
                out = outputs_of(image_bytes)
                return {name: tf.cast(out[key], tf.float32) for name, key in heads.items()}

            archive.add_endpoint(name="heads", fn=head_outputs)
    archive.write_out(path, verbose=False)
    _write_text(f"{path}/{EXPORT_INFO_FILE}", json.dumps({"image_size": image_size}, indent=2))


def write_json(path: str, value: dict) -> None:
    _write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)

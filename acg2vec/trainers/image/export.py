"""Export: a SavedModel whose signatures take encoded image bytes (the tag list and thresholds beside it are
written by :mod:`acg2vec.datasets.acg_illustrations.selected_tags`).

Signatures (all take ``image_bytes``: tf.string [None], encoded JPEG / PNG):
``serving_default`` -> {"probabilities": float32 [None, num_tags]}, ``embed`` -> {"embedding": float32
[None, dim]}; deepix adds ``heads`` -> {"rating": [None, 4], "popularity": [None, 3]}. An embedding-only model
(illust2vec) has ``embed`` also as ``serving_default``.
"""

from __future__ import annotations

import json

EXPORT_INFO_FILE = "export.json"
KERAS_MODEL_FILE = "model.keras"  # a DeepDanbooru tagger's Keras model, the starting point of deepix


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

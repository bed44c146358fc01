"""The feature contract of ``acg_illustrations``, shared by the builder and the image trainers.

A value the sources do not give is -1 (numbers). ``tags`` holds general tags; the selected vocabulary
(``selected_tags.csv`` in the dataset's version folder) may also take characters and copyrights.
"""

from __future__ import annotations

from acg2vec.vocabularies import RATINGS

NAME = "acg_illustrations"
SELECTED_TAGS_FILE = "selected_tags.csv"  # columns: tag_id, name, category (a name, e.g. "general"), count
BUILD_COUNTS_FILE = "build_counts.json"  # the build's outcome counts (read = written + dropped), beside the shards
UNKNOWN = -1
# Booru tag category codes, for vocabularies from other taggers that store the number instead of the name.
CATEGORY_CODES = {"0": "general", "1": "artist", "3": "copyright", "4": "character", "5": "meta", "9": "rating"}


def category_name(value: str | int | None) -> str:
    """A ``selected_tags.csv`` category as its name: names pass through, booru codes are translated."""
    text = str(value if value is not None else "").strip() or "general"
    return CATEGORY_CODES.get(text, text)


def features_for_size(size: int):
    """The TFDS ``FeaturesDict`` of a builder config whose images are ``size`` x ``size`` JPEGs."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    text_list = tfds.features.Sequence(tfds.features.Text())
    return tfds.features.FeaturesDict(
        {
            "id": tfds.features.Scalar(dtype=tf.int64, doc="Post id on its booru."),
            "md5": tfds.features.Text(doc="md5 of the original file."),
            "image": tfds.features.Image(shape=(size, size, 3), encoding_format="jpeg"),
            "tags": text_list,
            "characters": text_list,
            "copyrights": text_list,
            "artists": text_list,
            "rating": tfds.features.ClassLabel(names=list(RATINGS)),
            "score": tfds.features.Scalar(dtype=tf.int32, doc="Booru score, -1 if unknown."),
            "pixiv_id": tfds.features.Scalar(dtype=tf.int64, doc="-1 if the post has no pixiv source."),
            "pixiv_views": tfds.features.Scalar(dtype=tf.int64, doc="-1 if unknown."),
            "pixiv_bookmarks": tfds.features.Scalar(dtype=tf.int64, doc="-1 if unknown."),
            "pixiv_likes": tfds.features.Scalar(dtype=tf.int64, doc="-1 if unknown."),
            "pixiv_sanity_level": tfds.features.Scalar(dtype=tf.int32, doc="-1 if unknown."),
        }
    )

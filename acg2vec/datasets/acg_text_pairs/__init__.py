"""TFDS dataset ``acg_text_pairs``: multilingual ACG text pairs (also shipped as Parquet).

Importing this package registers the builder, so ``tfds.load('acg_text_pairs', data_dir=...)`` finds it.
"""

from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import Builder

__all__ = ["Builder"]

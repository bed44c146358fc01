"""TFDS dataset ``acg_illustrations``: illustrations with tags, rating and popularity targets.

Importing this package registers the builder, so ``tfds.load('acg_illustrations/224', data_dir=...)`` works.
"""

from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder

__all__ = ["Builder"]

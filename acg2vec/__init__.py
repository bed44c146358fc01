"""acg2vec: anime, comics and games web data into datasets and vector models."""

__version__ = "0.1.0"

"""acg2vec.datasets."""

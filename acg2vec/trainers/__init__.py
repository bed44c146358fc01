"""acg2vec.trainers."""

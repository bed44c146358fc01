"""acg2vec.trainers.image."""

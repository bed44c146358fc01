"""acg2vec.trainers.text."""

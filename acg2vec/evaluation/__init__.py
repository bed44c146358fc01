"""acg2vec.evaluation."""

"""acg2vec.beam_pipelines."""

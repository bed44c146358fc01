"""Curation: which labels of a built ``acg_illustrations`` version to trust (``acg2vec curate``).

The stage sits beside evaluation, above it in the layer contract: it reuses evaluation's dataset reader, report
writer and image-model plumbing, and evaluation needs nothing from it (a curated version is an ordinary dataset
version). Its outputs are ``curation/<run>/`` files whose one reader and writer is
``acg2vec.datasets.acg_illustrations.curation_files`` (the build applies them as a new dataset version).
"""

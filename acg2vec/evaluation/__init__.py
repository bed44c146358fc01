"""acg2vec.evaluation: tagging metrics, the ANN benchmark, image and text retrieval, reports.

Entry points (each takes paths or arrays and returns a metrics dict or result; ``*_section`` turns it into a
report section for :func:`acg2vec.evaluation.report.write_report`):

- ``tagger.evaluate_tagger(model_dir, data_dir, out_dir)`` / ``tagger.tagger_section``
- ``image_retrieval.evaluate_image_retrieval(model_dir, data_dir, out_dir)`` / ``images_section``
- ``text_retrieval.evaluate_text_retrieval(model_dir, datasets_root, out_dir, base_model_dir=...)`` / ``texts_section``
- ``ann_benchmark.run_ann_benchmark(vectors, queries, config=..., out_dir=...)`` / ``ann_section``

The FAISS index policy these measure (and that ``index`` and ``serve`` build and load) is its own package below:
:mod:`acg2vec.indexes` (``index_choice.build_chosen_index``, ``files.save_index / load_index``).

Heavy libraries are imported inside functions, so importing this package stays cheap.
"""

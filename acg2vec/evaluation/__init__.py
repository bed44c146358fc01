"""acg2vec.evaluation: tagging metrics, FAISS indexes and the ANN benchmark, image and text retrieval, reports.

Entry points (each takes paths or arrays and returns a metrics dict or result; ``*_section`` turns it into a
report section for :func:`acg2vec.evaluation.report.write_report`):

- ``tagger.evaluate_tagger(model_dir, data_dir, out_dir)`` / ``tagger.tagger_section``
- ``image_retrieval.evaluate_image_retrieval(model_dir, data_dir, out_dir)`` / ``images_section``
- ``text_retrieval.evaluate_text_retrieval(model_dir, datasets_root, out_dir, base_model_dir=...)`` / ``texts_section``
- ``ann_benchmark.run_ann_benchmark(vectors, queries, config=..., out_dir=...)`` / ``ann_section``
- ``index_choice.build_chosen_index`` and ``faiss_index.save_index / load_index``: the index chosen by measurement,
  as the ``index`` and ``serve`` commands build and load it (``faiss_index.candidates``: the rules;
  ``choose_index / build_index / tune_index``: one named factory).

Heavy libraries are imported inside functions, so importing this package stays cheap.
"""

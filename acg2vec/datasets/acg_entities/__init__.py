"""Dataset ``acg_entities``: one row per work, character and person, linked across every crawled site.

``schema`` is the row contract (:class:`~acg2vec.datasets.acg_entities.schema.Entity`) and where the table lives;
``records`` reads and writes it; ``candidates`` turns raw crawl items into candidate records; ``linker`` links them
(certain id links first, then Splink); ``build`` runs it all (``acg2vec build entities``, and inside
``acg2vec build texts``). See docs/entities.md.
"""

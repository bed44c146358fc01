"""TFDS dataset ``acg_text_pairs``: multilingual ACG text pairs (also shipped as Parquet)."""

"""TFDS dataset ``acg_illustrations``: illustrations with tags, rating and popularity targets."""

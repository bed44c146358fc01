"""Parsers that turn one site's answers (JSON, HTML) into acg2vec items, apart from the spiders that fetch them."""

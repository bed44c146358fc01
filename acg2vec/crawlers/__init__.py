"""Scrapy crawlers and importers that write typed items to raw/<source>/."""

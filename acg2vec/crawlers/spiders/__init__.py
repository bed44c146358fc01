"""acg2vec.crawlers.spiders."""

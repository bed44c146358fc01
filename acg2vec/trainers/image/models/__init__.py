"""Image models, picked by name from :mod:`acg2vec.trainers.image.models.registry`."""

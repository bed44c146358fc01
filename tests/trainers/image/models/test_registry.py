"""The model registry: its names, and an unknown model as a user error."""

from __future__ import annotations

import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import registry

pytestmark = pytest.mark.unit


def test_registry_names_and_unknown_model():
    assert set(registry.MODELS) == {"alt_i2v", "deepdanbooru", "deepix"}
    with pytest.raises(UserError, match="Unknown model 'vit'"):
        registry.make_model("vit", image_size=32, num_tags=3)
    with pytest.raises(UserError, match="Bad option"):
        registry.make_model("deepdanbooru", image_size=32, num_tags=3, colour="red")

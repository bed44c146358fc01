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


def test_names_by_task_and_the_preference_lists():
    assert registry.names("tags") == ("alt_i2v", "deepdanbooru") and registry.names("deepix") == ("deepix",)
    # Every registered model, and deepix's illust2vec export, is an embedder; taggers and raters are models.
    assert set(registry.EMBEDDER_PREFERENCE) == {*registry.MODELS, "illust2vec"}
    assert set(registry.TAGGER_PREFERENCE) == set(registry.MODELS) and registry.RATER_PREFERENCE == ("deepix",)


def test_the_registry_imports_no_model_code_until_a_model_is_asked_for():
    import subprocess
    import sys

    code = "import sys; from acg2vec.trainers.image.models import registry; print('keras' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr[-2000:]
    assert registry.get("alt_i2v").image_size == 224 and callable(registry.get("deepix").feature_tensor)

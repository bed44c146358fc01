"""Reading the image dataset, its tag info and a SavedModel signature; missing inputs are user errors."""

from __future__ import annotations

import pytest

from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import load_signature, read_images, resolve_dataset_dir, run_signature


@pytest.mark.integration
def test_dataset_and_model_contracts(artefacts):
    root, model = artefacts
    folder = resolve_dataset_dir(str(root / "datasets" / "acg_illustrations"))
    assert folder.endswith("64/1.0.0")
    records = read_images(folder)
    assert len(records.ids) == 12 and records.images[0][:2] == b"\xff\xd8"  # JPEG bytes, not decoded
    assert {"red", "solo", "sample_series"} <= records.labels[0]
    signature = load_signature(str(model), "serving_default")
    with DeadLetters(None) as dead:
        probs, mask = run_signature(
            signature,
            "probabilities",
            [records.images[0], b"broken", records.images[1]],
            batch_size=3,
            dead_letters=dead,
            ids=[1, 99, 2],
        )
    assert mask.tolist() == [True, False, True] and dead.counts == {"undecodable-image": 1}
    assert probs.shape == (2, 5) and probs[0, 0] > 0.7  # a red image scores red


@pytest.mark.unit
def test_user_errors_for_missing_inputs(tmp_path):
    with pytest.raises(UserError, match="acg2vec build images"):
        resolve_dataset_dir(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="SavedModel"):
        load_signature(str(tmp_path), "embed")


@pytest.mark.integration
def test_unknown_split_and_signature_are_user_errors(artefacts):
    root, model = artefacts
    with pytest.raises(UserError, match="no 'train' split"):
        read_images(str(root / "datasets"), split="train")
    with pytest.raises(UserError, match="no 'serving' signature"):
        load_signature(str(model), "serving")


@pytest.mark.unit
def test_numeric_tag_categories_get_their_names(tmp_path):
    from acg2vec.evaluation.image_data import read_tag_info

    (tmp_path / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n0,1girl,0,900\n1,hatsune_miku,4,50\n2,vocaloid,3,60\n", encoding="utf-8"
    )
    info = read_tag_info(str(tmp_path))
    assert info.names == ["1girl", "hatsune_miku", "vocaloid"]
    assert info.categories == ["general", "character", "copyright"] and info.counts.tolist() == [900, 50, 60]

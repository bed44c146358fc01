"""Reading the image dataset and a model's tag info; images a model cannot read are dead-lettered; missing inputs
are user errors."""

from __future__ import annotations

import pytest

from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import dead_letter_bad_images, read_images, resolve_dataset_dir
from acg2vec.trainers.image.image_model import load_image_model


@pytest.mark.integration
def test_dataset_and_model_contracts(artefacts):
    root, model = artefacts
    folder = resolve_dataset_dir(str(root / "datasets" / "acg_illustrations"))
    assert folder.endswith("64/1.0.0")
    records = read_images(folder)
    assert len(records.ids) == 12 and records.images[0][:2] == b"\xff\xd8"  # JPEG bytes, not decoded
    assert {"red", "solo", "sample_series"} <= records.labels[0]
    tagger = load_image_model(str(model))
    images = [records.images[0], b"broken", records.images[1]]
    with DeadLetters(None) as dead:
        probs, mask = tagger.embed_robust(
            images, dead_letter_bad_images(dead, images, [1, 99, 2]), compute=tagger.tag_probabilities, batch_size=3
        )
    assert mask.tolist() == [True, False, True] and dead.counts == {"undecodable-image": 1}
    assert probs.shape == (2, 5) and probs[0, 0] > 0.7  # a red image scores red


@pytest.mark.unit
def test_user_errors_for_missing_inputs(tmp_path):
    with pytest.raises(UserError, match="acg2vec build images"):
        resolve_dataset_dir(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no image model in a known layout"):
        load_image_model(str(tmp_path))


@pytest.mark.integration
def test_unknown_split_is_a_user_error(artefacts):
    root, _ = artefacts
    with pytest.raises(UserError, match="no 'train' split"):
        read_images(str(root / "datasets"), split="train")


@pytest.mark.unit
def test_numeric_tag_categories_get_their_names(tmp_path):
    from acg2vec.evaluation.image_data import read_tag_info

    (tmp_path / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n0,1girl,0,900\n1,hatsune_miku,4,50\n2,vocaloid,3,60\n", encoding="utf-8"
    )
    info = read_tag_info(str(tmp_path))
    assert info.names == ["1girl", "hatsune_miku", "vocaloid"]
    assert info.categories == ["general", "character", "copyright"] and info.counts == [900, 50, 60]

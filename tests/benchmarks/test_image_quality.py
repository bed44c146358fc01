"""benchmarks/image_quality.py's own parts (the picture world it trains on is tested in tests/sample_site/): the
datasets it writes carry the posts' noisy labels and a vocabulary from the training split only, and runs of
other sizes merge into one report."""

from __future__ import annotations

import pytest

from acg2vec.sample_site.pictures import make_picture, make_world
from tests.benchmarks.scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("image_quality")


@pytest.mark.integration
def test_the_dataset_holds_the_labels_and_a_vocabulary_from_training_posts(bench, tmp_path):
    import tensorflow_datasets as tfds

    from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

    world = make_world(0)
    pictures = [make_picture(i + 1, 0, world) for i in range(60)]
    train, val, test = pictures[:40], pictures[40:50], pictures[50:]
    folder = bench.write_dataset(tmp_path, train=train, val=val, test=test, world=world, size=32, min_images=5)

    builder = tfds.builder_from_directory(str(folder))
    assert {s: builder.info.splits[s].num_examples for s in ("train", "validation", "test")} == {
        "train": 40,
        "validation": 10,
        "test": 10,
    }
    first = next(iter(tfds.as_numpy(builder.as_dataset(split="test"))))
    labels = test[0].labels
    assert int(first["id"]) == test[0].id and first["image"].shape == (32, 32, 3)
    assert sorted(t.decode() for t in first["tags"]) == sorted(t for t, c in labels.items() if c == "general")
    assert sorted(t.decode() for t in first["artists"]) == [t for t, c in labels.items() if c == "artist"]
    vocabulary = TagVocabulary.read(str(folder / "selected_tags.csv"))
    assert vocabulary.counts == sorted(vocabulary.counts, reverse=True) and min(vocabulary.counts) >= 5
    for name, category, count in zip(vocabulary.names, vocabulary.categories, vocabulary.counts, strict=True):
        # counted on the training posts only, in the category the post labels it with
        assert count == sum(1 for p in train if p.labels.get(name) == category)


@pytest.mark.unit
def test_runs_of_other_sizes_merge_into_one_report(bench):
    def run(size: int, ceiling: float) -> dict:
        figures = {"micro_f1_at_p_eq_r": 0.5, "macro_map": 0.4}
        row = {
            "model": figures,
            "baseline": figures,
            "per_category": {},
            "final_loss": 0.1,
            "constant_predictor_loss": 0.3,
            "train_seconds": 10.0,
        }
        return {
            "args": {"sizes": [size]},
            "test_split": {"images": 800},
            "ceiling": {
                "micro_f1_at_p_eq_r": ceiling,
                "macro_map": ceiling,
                "rating_accuracy": 0.8,
                "score_spearman": 0.8,
            },  # fmt: skip
            "sizes": {str(size): {"deepdanbooru": row}},
        }

    merged = bench.merge_results([run(2000, 0.9), run(20000, 0.95)])
    assert sorted(merged["sizes"]) == ["2000", "20000"] and merged["ceiling"]["macro_map"] == 0.95
    assert merged["ceilings_by_run"] == {"2000": run(2000, 0.9)["ceiling"], "20000": run(20000, 0.95)["ceiling"]}
    text = bench.report(merged)
    assert "| 2000 | deepdanbooru |" in text and "| 20000 | deepdanbooru |" in text
    other_test = run(5000, 0.9)
    other_test["test_split"]["images"] = 400
    with pytest.raises(SystemExit, match="different test splits"):
        bench.merge_results([run(2000, 0.9), other_test])

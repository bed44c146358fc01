from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.errors import UserError
from acg2vec.trainers.image import input_pipeline as ip

from .tiny_dataset import CHARACTER, COLOURS

pytestmark = pytest.mark.unit
DATASET = "acg_illustrations/64"


@pytest.fixture(scope="module")
def builder(tiny_data_dir):
    return ip.open_dataset(str(tiny_data_dir), DATASET)


def test_vocab_reads_what_the_image_build_writes_and_booru_codes():
    from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules, choose_vocabulary

    built = choose_vocabulary(
        [(("general", "star"), 9), (("character", "hero_(x)"), 4)], VocabularyRules(min_images=1)
    )
    vocab = TagVocabulary.parse(built.to_csv())
    assert (vocab.names, vocab.categories, vocab.counts) == (["star", "hero_(x)"], ["general", "character"], [9, 4])
    assert TagVocabulary.parse(vocab.to_csv()) == vocab
    coded = TagVocabulary.parse("tag_id,name,category,count\n0,a,0,5\n1,b,4,3\n2,c,3,1\n")
    assert coded.categories == ["general", "character", "copyright"]


def _config(**overrides) -> ip.InputConfig:
    return ip.InputConfig(**{"image_size": 32, "batch_size": 4, "deterministic": True, "seed": 3, **overrides})


def test_vocab_reads_selected_tags_and_keeps_file_order_in_top(builder):
    vocab = ip.load_vocab(builder)
    assert vocab.names == [*COLOURS, CHARACTER]
    assert vocab.categories[-1] == "character"
    top = vocab.top(2)
    assert len(top) == 2 and all(name in vocab.names for name in top.names)
    assert [vocab.names.index(n) for n in top.names] == sorted(vocab.names.index(n) for n in top.names)
    assert TagVocabulary.parse(vocab.to_csv()) == vocab


def test_multi_hot_eager_and_in_map():
    vocab = TagVocabulary(["red", "blue", "hero"], ["general", "general", "character"], [3, 2, 1])
    table = ip.make_lookup(vocab)
    example = {
        "tags": tf.constant(["blue", "unselected", "blue"]),
        "characters": tf.constant(["hero"]),
        "copyrights": tf.constant([], tf.string),
        "artists": tf.constant([], tf.string),
    }
    eager = ip.multi_hot(example, table, 3).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(example).map(lambda e: ip.multi_hot(e, table, 3)))).numpy()
    np.testing.assert_array_equal(eager, [0, 1, 1])
    np.testing.assert_array_equal(mapped, eager)
    empty = {key: tf.constant([], tf.string) for key in example}
    np.testing.assert_array_equal(ip.multi_hot(empty, table, 3).numpy(), [0, 0, 0])


def test_evaluation_batches_carry_the_right_labels(builder):
    vocab = ip.load_vocab(builder)
    ds = ip.make_dataset(builder, "validation", vocab, config=_config(), training=False, with_ids=True)
    truth = {}
    for example in builder.as_dataset(split="validation"):
        names = [t.decode() for t in example["tags"].numpy()] + [c.decode() for c in example["characters"].numpy()]
        truth[int(example["id"])] = [float(name in names) for name in vocab.names]
    seen = 0
    for images, labels, ids in ds:
        assert images.shape[1:] == (32, 32, 3) and images.dtype == tf.float32
        for label, post_id in zip(labels.numpy(), ids.numpy(), strict=True):
            np.testing.assert_array_equal(label, truth[int(post_id)])
            seen += 1
    assert seen == 24  # one full pass, the last partial batch kept


def test_training_stream_repeats_in_full_batches_and_is_deterministic(builder):
    vocab = ip.load_vocab(builder)

    def first_batches(**kw):
        ds = ip.make_dataset(builder, "train", vocab, config=_config(), training=True, **kw)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(14)]  # 14 * 4 > 48: crosses an epoch

    a, b = first_batches(), first_batches()
    assert all(x.shape == (4, 32, 32, 3) for x, _ in a)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # Skipping examples continues the same stream (what a resumed run relies on).
    skipped = first_batches(skip_examples=8)
    np.testing.assert_array_equal(skipped[0][0], a[2][0])
    np.testing.assert_array_equal(skipped[5][1], a[7][1])


def test_deepix_targets(builder):
    vocab = ip.load_vocab(builder)
    ds = ip.make_dataset(builder, "validation", vocab, config=_config(), training=False, task="deepix")
    _, targets = next(iter(ds))
    assert set(targets) == {"tags", "rating", "popularity"}
    assert targets["popularity"].shape == (4, 3)
    popularity = np.concatenate([t["popularity"].numpy() for _, t in ds])
    ratings = np.concatenate([t["rating"].numpy() for _, t in ds])
    # score is always known; pixiv views / bookmarks are -1 (unknown) for every other post.
    assert (popularity[:, 0] >= 10).all()
    assert (popularity[:, 1] == -1).sum() == 12 and ((popularity[:, 1] == -1) == (popularity[:, 2] == -1)).all()
    assert set(ratings) == {0, 1}


def test_missing_dataset_or_split_is_a_user_error(tiny_data_dir, builder):
    with pytest.raises(UserError, match="No dataset acg_illustrations/999"):
        ip.open_dataset(str(tiny_data_dir), "acg_illustrations/999")
    with pytest.raises(UserError, match="must look like"):
        ip.open_dataset(str(tiny_data_dir), "mnist")
    with pytest.raises(UserError, match="no split 'test'"):
        ip.split_size(builder, "test")

"""Named experiments: one function per experiment returning its TrainConfig.

Each docstring gives the exact command, the expected result and the time it takes. ``acg2vec train tagger
--config NAME`` starts from one of these; flags given on the command line override its fields.
"""

from __future__ import annotations

from acg2vec.trainers.image.train import TrainConfig


def alt_i2v_224() -> TrainConfig:
    """alt-i2v: VGG16 at 224 px, top 5,000 tags, BCE, Adam 1e-3.

    Command: ``acg2vec train tagger --config alt_i2v_224 --weights vgg16_notop.h5``
    Expected: well above the tag-frequency baseline in validation macro mAP after a few epochs on a full crawl;
    on CPU ~1 s per 224 px image per step, so train it on a GPU (hours for 100k images).
    """
    return TrainConfig(model="alt_i2v", dataset="acg_illustrations/224", image_size=224, top_tags=5000, epochs=20)


def deepdanbooru_v3_512() -> TrainConfig:
    """DeepDanbooru resnet_custom_v3 at 512 px (the original's setting), BCE, Adam 1e-3, warmup + cosine.

    Command: ``acg2vec train tagger --config deepdanbooru_v3_512``
    Expected: the DeepDanbooru recipe; needs a GPU or TPU (days for a million images on one GPU).
    """
    return TrainConfig(model="deepdanbooru", dataset="acg_illustrations/512", image_size=512, epochs=30)


def deepix_512() -> TrainConfig:
    """deepix: DeepDanbooru v3 encoder cut at activation_96 (lr 1e-5), heads at 1e-2; exports illust2vec.

    Command: ``acg2vec train deepix --config deepix_512 --init-from model-resnet_custom_v3.h5``
    Expected: heads converge in a few epochs from a DeepDanbooru starting point; GPU hours per 100k images.
    """
    return TrainConfig(
        model="deepix",
        dataset="acg_illustrations/512",
        image_size=512,
        epochs=10,
        model_options={"encoder_layer": "activation_96"},
    )


def sample_tiny() -> TrainConfig:
    """A small DeepDanbooru (1/8 width, minimal depth) at 128 px for the bundled sample site's dataset on a CPU.

    Command: ``acg2vec train tagger --config sample_tiny``
    Expected: on the demo's 1,000 sample posts (103 test images), test micro-F1 at P=R about 0.45 against 0.37
    for the tag-frequency baseline and macro mAP about 0.29 against 0.13 (docs/benchmarks.md); 2-4 minutes on
    2 CPU cores.

    Why these settings: the sample pictures' tags are coloured shapes in a 3x3 grid, shape counts and colours,
    so random crops (which cut shapes away and change the count tags) and colour jitter (which changes the colour
    tags) are off. The head is a biased 1x1 convolution rather than the original's batch norm, whose spread
    (gamma) caps how confident a tag can be until it has grown, which a run of a few hundred steps never sees;
    its offsets start at the tag priors (train.py). 3e-3 and 1e-2 end level (the run is data-bound). The final feature
    map is 1x1 at 128 px, so every tag sees the whole picture.
    """
    return TrainConfig(
        model="deepdanbooru",
        dataset="acg_illustrations/224",
        image_size=128,
        batch_size=16,
        epochs=8,
        learning_rate=3e-3,
        top_tags=200,
        crop_scale=(1.0, 1.0),
        colour_jitter=0.0,
        model_options={"width": 1 / 8, "depth": 0.05, "bn_momentum": 0.9, "head_batch_norm": False},
    )


def sample_deepix_tiny() -> TrainConfig:
    """deepix on a small encoder for the sample site's dataset on a CPU; exports illust2vec beside it.

    Command: ``acg2vec train deepix --config sample_deepix_tiny``
    Expected: runs in a few minutes on a laptop CPU; illust2vec vectors of the encoder's width at the cut layer.
    Started from a trained sample_tiny tagger (``--init-from models/deepdanbooru``, as the demo does), its tag
    head matches the tagger's figures above the baseline. No crops or colour jitter, for the tagger's reasons.
    """
    return TrainConfig(
        model="deepix",
        dataset="acg_illustrations/224",
        image_size=128,
        batch_size=16,
        epochs=6,
        top_tags=200,
        crop_scale=(1.0, 1.0),
        colour_jitter=0.0,
        model_options={"width": 1 / 16, "depth": 0.1, "encoder_layer": "activation_20", "head_filters": 32},
    )


def deepdanbooru_224() -> TrainConfig:
    """What ``acg2vec train tagger`` starts from without --config: DeepDanbooru on the default build (224 px).

    Command: ``acg2vec train tagger`` (``--arch alt_i2v`` for alt-i2v on the same data).
    """
    return TrainConfig(model="deepdanbooru", dataset="acg_illustrations/224")


def deepix_224() -> TrainConfig:
    """What ``acg2vec train deepix`` starts from without --config: deepix on the default build (224 px).

    Command: ``acg2vec train deepix``
    """
    return TrainConfig(model="deepix", dataset="acg_illustrations/224")


def demo_tagger() -> TrainConfig:
    """sample_tiny as ``acg2vec demo`` trains it: batch 32 and a fixed 8 epochs (no early stopping), seeded.

    Command: ``acg2vec train tagger --config demo_tagger`` (after ``acg2vec demo --until build``).
    Expected: the demo's tagger row (docs/benchmarks.md).
    """
    config = sample_tiny()
    config.batch_size = 32
    config.patience = config.epochs  # early stopping needs a few epochs of patience; the demo trains a fixed budget
    config.deterministic = True
    return config


def demo_deepix() -> TrainConfig:
    """deepix as ``acg2vec demo`` trains it: from the demo's trained tagger cut at its last activation.

    Command: ``acg2vec train deepix --config demo_deepix --init-from <workdir>/models/deepdanbooru/model.keras``
    Expected: tag-head figures level with the tagger's, above the baseline, in a minute on 2 CPU cores.

    The demo's tagger (demo_tagger: resnet v3 at depth 0.05, one block per stage) is cut at ``activation_36``,
    its last activation, the features its own tag head reads, so the deepix heads start from everything the
    tagger learned (an earlier 4x4 map left deepix level with the tag-frequency baseline). The encoder learns
    slowly (1e-5) while the heads learn fast (1e-2), as in the original recipe.
    """
    config = sample_deepix_tiny()
    config.batch_size = 32
    config.epochs = 3
    config.patience = config.epochs
    config.deterministic = True
    config.model_options = {"encoder_layer": "activation_36", "head_filters": 32}
    return config


CONFIGS = {
    fn.__name__: fn
    for fn in (
        alt_i2v_224,
        deepdanbooru_v3_512,
        deepix_512,
        sample_tiny,
        sample_deepix_tiny,
        deepdanbooru_224,
        deepix_224,
        demo_tagger,
        demo_deepix,
    )
}

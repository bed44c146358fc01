"""ImageModel.embed_robust: batches, a failed batch retried image by image, the bad image handed to on_bad."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.imaging import ImageDrop
from acg2vec.trainers.image.image_model import ImageModel

pytestmark = pytest.mark.unit


class Lengths(ImageModel):
    """Embeds an image as its byte count; refuses b"bad" (as a model refuses bytes it cannot decode)."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__(path="lengths", kind="test", image_size=1)
        self.calls: list[int] = []

    def embed(self, images: list[bytes]) -> np.ndarray:
        self.calls.append(len(images))
        if b"bad" in images:
            raise ImageDrop("image-corrupt", "not an image")
        return np.array([[len(data)] for data in images], np.float32)

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        return self.embed(images) / 10


def test_a_bad_image_costs_only_itself():
    model, bad, advanced = Lengths(), [], []
    images = [b"a", b"bb", b"bad", b"dddd", b"eeeee"]
    vectors, mask = model.embed_robust(
        images, lambda i, drop: bad.append((i, drop.reason)), batch_size=2, advance=advanced.append
    )
    assert mask.tolist() == [True, True, False, True, True]
    assert vectors[:, 0].tolist() == [1, 2, 4, 5]
    assert bad == [(2, "image-corrupt")] and advanced == [2, 2, 1]
    assert model.calls == [2, 2, 1, 1, 1]  # the failed batch of two, then its images one by one


def test_another_output_and_nothing_readable():
    model = Lengths()
    scores, mask = model.embed_robust([b"a"], lambda i, d: None, compute=model.tag_probabilities)
    assert scores.tolist() == [[pytest.approx(0.1)]] and mask.tolist() == [True]
    vectors, mask = model.embed_robust([b"bad"], lambda i, d: None)
    assert vectors.shape == (0, 0) and mask.tolist() == [False]

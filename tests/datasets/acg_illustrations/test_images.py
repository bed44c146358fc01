"""images: one crawled file -> the example JPEG on a white square, or a named reason (the odd-image zoo)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acg2vec.datasets.acg_illustrations.images import (
    IMAGE_DROP_REASONS,
    ImageRules,
    decode_resize_encode,
    process_file,
)
from acg2vec.imaging import ImageDrop
from acg2vec.integrity import DAMAGED_FILE
from tests.damage import DAMAGES
from tests.test_imaging import noisy_jpeg, zoo_files

pytestmark = pytest.mark.unit
RULES = ImageRules(size=64, max_pixels=4_000_000)


def decode(data: bytes, rules: ImageRules = RULES) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(decode_resize_encode(data, rules))))


def test_resize_pads_to_a_white_square() -> None:
    pixels = decode(noisy_jpeg((128, 32)), ImageRules(size=64))
    assert pixels.shape == (64, 64, 3)
    assert pixels[:4].min() > 240 and pixels[-4:].min() > 240  # padding above and below
    assert pixels[28:36].mean() < 200 and pixels[28:36].std() > 10  # the picture in the middle


def test_large_jpeg_uses_draft_and_keeps_size() -> None:
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 200, 10)).save(out, "JPEG")
    pixels = decode(out.getvalue(), ImageRules(size=64))
    assert pixels.shape == (64, 64, 3)
    assert abs(int(pixels[32, 32, 1]) - 200) < 8


@pytest.mark.parametrize("name", list(zoo_files()))
def test_bad_file_zoo(name: str, tmp_path: Path) -> None:
    data, ext, reason = zoo_files()[name]
    path = tmp_path / f"file.{ext}"
    if data is not None:
        path.write_bytes(data)
    if reason is None:
        pixels = np.asarray(Image.open(io.BytesIO(process_file(str(path), RULES))))
        assert pixels.shape == (64, 64, 3)
        return
    with pytest.raises(ImageDrop) as err:
        process_file(str(path), RULES)
    assert err.value.reason == reason and reason in IMAGE_DROP_REASONS


def test_odd_files_decode_to_what_they_show() -> None:
    zoo = zoo_files()
    cmyk = decode(zoo["cmyk-jpeg"][0])
    assert cmyk[32, 32, 0] > 200 and cmyk[32, 32, 1] < 60  # red, not inverted or grey
    grey = decode(zoo["png-16-bit"][0])
    assert 120 <= grey[32, 32, 0] <= 136  # 32768 of 65535 scaled, not clipped to white
    palette = decode(zoo["palette-transparency"][0])
    assert palette[32, 5].min() > 240  # transparent half composited on white
    assert palette[32, 58, 2] > 200 and palette[32, 58, 0] < 60  # opaque half blue
    gif = decode(zoo["animated-gif"][0])
    assert gif[32, 32, 0] > 200 and gif[32, 32, 2] < 60  # first frame (red)


def test_min_side_checked_on_the_decoded_image() -> None:
    with pytest.raises(ImageDrop) as err:
        decode_resize_encode(noisy_jpeg((100, 20)), ImageRules(size=64, min_side=32))
    assert err.value.reason == "image-too-small"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_file_that_fails_its_md5_is_a_damaged_file_with_the_repair(tmp_path: Path, damage: str) -> None:
    data = noisy_jpeg((96, 64))
    path = tmp_path / "file.jpg"
    path.write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    assert process_file(str(path), RULES, md5)[:2] == b"\xff\xd8"  # sound: decoded
    DAMAGES[damage](path)
    with pytest.raises(ImageDrop) as caught:
        process_file(str(path), RULES, md5)
    assert caught.value.reason == DAMAGED_FILE and DAMAGED_FILE in IMAGE_DROP_REASONS
    assert (
        caught.value.detail.startswith(f"{path} is damaged (")
        and f"not to the post's md5 {md5}" in caught.value.detail
    )
    assert caught.value.detail.endswith("repair it with `acg2vec crawl safebooru`.")

"""Tiny hand-made raw/ folders for the image build tests: posts written with the item dataclasses, small images.

The odd files the build must drop or decode are the zoo of ``tests/test_imaging.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

from PIL import Image

from acg2vec.crawlers.items import Illust, Item, Post, item_to_dict
from tests.test_imaging import noisy_jpeg, zoo_files  # noqa: F401 (the one odd-image zoo, for the build tests)

GENERAL_TAGS = [
    "1girl",
    "solo",
    "smile",
    "long_hair",
    "blue_eyes",
    "skirt",
    "outdoors",
    "sky",
    "flower",
    "hat",
    "dress",
]


NOT_UTF8 = b'{"kind": "post", "source": "caf\xe9"}'  # Latin-1 bytes: not UTF-8


def write_shard(path: Path, items: list[Item], extra_lines: list[str | bytes] = ()) -> Path:
    """Write items (and raw extra lines, e.g. broken JSON or bytes that are not UTF-8) as one ``*.jsonl.gz`` shard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        for item in items:
            fh.write(json.dumps(item_to_dict(item)).encode("utf-8") + b"\n")
        for line in extra_lines:
            fh.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
    return path


def image_bytes(
    size: tuple[int, int] = (96, 64), color: tuple[int, ...] = (200, 30, 30), fmt: str = "JPEG", mode: str = "RGB"
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def save_file(raw_source: Path, data: bytes, ext: str = "jpg", md5: str | None = None) -> tuple[str, str]:
    """Store ``data`` like the crawler's FilesPipeline; returns ``(md5, file_path relative to raw/<source>/)``."""
    md5 = md5 or hashlib.md5(data).hexdigest()
    relative = f"files/{md5[:2]}/{md5}.{ext}"
    target = raw_source / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return md5, relative


def make_post(post_id: int, md5: str | None, file_path: str | None, **fields) -> Post:
    values = {
        "source": "safebooru",
        "source_id": str(post_id),
        "id": post_id,
        "md5": md5,
        "file_path": file_path,
        "rating": "general",
        "status": "active",
        "width": 800,
        "height": 600,
        "score": 3,
        "tags": list(GENERAL_TAGS[:4]) + ["hatsune_miku", "vocaloid"],
        "tag_categories": {"hatsune_miku": "character", "vocaloid": "copyright"},
        "fetched_at": "2026-11-01T00:00:00+00:00",
    }
    values.update(fields)
    return Post(**values)


def make_illust(illust_id: int, **fields) -> Illust:
    values = {
        "source": "pixiv",
        "source_id": str(illust_id),
        "id": illust_id,
        "views": 1000,
        "bookmarks": 100,
        "likes": 50,
        "sanity_level": 2,
    }
    values.update(fields)
    return Illust(**values)


def simple_raw(root: Path, n: int = 12, *, size: tuple[int, int] = (96, 64)) -> list[Post]:
    """``root/raw/safebooru`` with ``n`` good posts; by id mod 1000 every 4th is validation, every 4th test."""
    safebooru = root / "raw" / "safebooru"
    posts = []
    for i in range(n):
        post_id = i * 1000 + (5, 120, 910, 960)[i % 4]
        md5, rel = save_file(safebooru, image_bytes(size, ((i * 40) % 255, 80, 160)))
        posts.append(make_post(post_id, md5, rel))
    write_shard(safebooru / "post-00000.jsonl.gz", posts)
    return posts


def local_test_pipeline():
    """A TestPipeline on the local runner in one process (never Beam's runner switch)."""
    from apache_beam.testing.test_pipeline import TestPipeline

    from acg2vec.beam_pipelines.options import RunnerConfig, pipeline_options

    return TestPipeline(options=pipeline_options(RunnerConfig(mode="in_memory")), blocking=True)

"""rebuild: the command a damaged version's sentence gives makes the same version again."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from acg2vec.datasets.acg_illustrations.rebuild import rebuild_command
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig

pytestmark = pytest.mark.unit


def version(tmp_path: Path, metadata: dict | None, name: str = "1.0.0") -> str:
    folder = tmp_path / "datasets" / "acg_illustrations" / "64" / name
    folder.mkdir(parents=True)
    if metadata is not None:
        (folder / "metadata.json").write_text(json.dumps(metadata))
    return str(folder)


def test_the_rules_a_version_was_built_with_become_flags(tmp_path: Path) -> None:
    recorded = asdict(ImageBuildConfig.tiny())  # as the build records it in metadata.json
    recorded["splits"]["ranges"] = {"train": [0, 8], "validation": [8, 9], "test": [9, 10]}
    recorded["splits"]["modulus"] = 10
    recorded["shard_bytes"] = 64 * 1024 * 1024
    command = rebuild_command(version(tmp_path, {"build_config": recorded}))
    assert command == (
        "acg2vec build images --config 64 --min-side 32 --min-general-tags 3 "
        "--splits train=0-8,validation=8-9,test=9-10 --split-modulus 10 --min-images-per-tag 2 --shard-mb 64"
    )


def test_a_curated_version_is_made_again_from_its_run_and_unreadable_metadata_gives_the_plain_rebuild(
    tmp_path: Path,
) -> None:
    curation = {"run_dir": "/w/curation/main", "made_for": {"version": "1.0.0"}}
    assert rebuild_command(version(tmp_path, {"curation": curation}, "1.0.1")) == (
        "acg2vec build images --apply-curation /w/curation/main --config 64 --from-version 1.0.0"
    )
    folder = version(tmp_path, None, "1.0.2")
    (Path(folder) / "metadata.json").write_bytes(b"\x89PNG")
    assert rebuild_command(folder) == "acg2vec build images --config 64"

"""Raw shards checked whole before a build reads them: every damage of the zoo named in one sentence (the shard,
the problem, the lines lost, the repair) by ``build texts``, ``build entities`` and ``build images``, which refuse
it by default and with ``--skip-damaged`` build without it and say so in the card, the metadata and the dead
letters; the repair (the shard fetched again) builds again."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acg2vec.beam_pipelines import files
from acg2vec.beam_pipelines.raw_shards import MANIFEST_FILE, STEP, check_raw_shards
from acg2vec.cli import app
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.integrity import DAMAGED_FILE, DamagedFileError
from tests.beam_pipelines import memory_filesystem as memfs
from tests.beam_pipelines.image_fakes import image_bytes, make_post, save_file, simple_raw, write_shard
from tests.damage import DAMAGES

DUMMY_RAW = Path(schema.__file__).resolve().parent / "dummy_data"
IMAGE_RULES = ["--config", "64", "--min-side", "32", "--min-general-tags", "3", "--min-images-per-tag", "2"]
TEXT_SHARD = "bangumi/work-00000.jsonl.gz"  # read by build texts and build entities
POST_SHARD = "safebooru/post-00000.jsonl.gz"


def _lines(path: Path) -> int:
    with gzip.open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]


def _record(path: Path, lines: int | None = None) -> None:
    """The crawl's per-shard record of ``path`` in its source's manifest.json (as it was written)."""
    manifest_path = path.parent / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"shards": {}}
    manifest["shards"][path.name] = {**files.digest(str(path)), "lines": lines if lines is not None else _lines(path)}
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One raw/ folder for the whole zoo: the text builds' dummy shards gzipped as the crawl writes them, and eight
    safebooru posts with their files in two post shards."""
    root = tmp_path_factory.mktemp("zoo") / "raw"
    shutil.copytree(DUMMY_RAW, root)
    for path in sorted(root.rglob("*.jsonl")):
        path.with_suffix(".jsonl.gz").write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        path.unlink()
    posts = simple_raw(root.parent, 8)
    safebooru = root / "safebooru"
    more = []
    for i in range(4):  # a second post shard, so that one of them can be damaged
        md5, rel = save_file(safebooru, image_bytes((96, 64), (10, 200 - 30 * i, 90)))
        more.append(make_post(posts[i].id + 100_000, md5, rel))
    write_shard(safebooru / "post-00001.jsonl.gz", more)
    return root


def _workdir(raw: Path, tmp_path: Path) -> Path:
    workdir = tmp_path / "w"
    shutil.copytree(raw, workdir / "raw")
    return workdir


def _run(workdir: Path, *args: str):
    """``acg2vec -w <workdir> <args>`` in this process: ``(exit code, what the user reads)`` as ``acg2vec.cli.main``
    reports them (a user error: its exit code and its one sentence)."""
    result = CliRunner().invoke(app, ["-w", str(workdir), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if not hasattr(result.exception, "exit_code"):
            raise result.exception
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


@pytest.mark.unit
@pytest.mark.parametrize("recorded", [False, True], ids=["no-record", "manifest-record"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_shard_is_one_sentence_with_its_loss_and_repair(
    raw: Path, tmp_path: Path, damage: str, recorded: bool
) -> None:
    shard = tmp_path / "bangumi" / "work-00000.jsonl.gz"
    shutil.copytree(raw / "bangumi", shard.parent)
    lines = _lines(shard)
    if recorded:
        _record(shard)
    DAMAGES[damage](shard)
    found = files.match(str(shard.parent / "*.jsonl.gz"))
    with pytest.raises(DamagedFileError) as caught:
        check_raw_shards(found, command="acg2vec build texts")
    err = caught.value
    message = str(err)
    assert err.path == str(shard) and message.startswith(f"{shard} is damaged (") and message.count("\n") == 0
    assert "`acg2vec crawl bangumi`" in message and "`acg2vec build texts --skip-damaged`" in message
    if recorded:  # the loss is exact: the crawl counted the shard's lines
        assert f"its {lines:,} lines (items, as the crawl counted them) are lost" in message
    else:
        assert "lost (how many, the crawl did not record)" in message
    # Skipped, the check adds up and names the loss.
    check = check_raw_shards(found, command="acg2vec build texts", skip_damaged=True)
    record = check.record()
    assert record["found"] == len(found) == record["read"] + record[DAMAGED_FILE] and record[DAMAGED_FILE] == 1
    assert record["skipped"][0]["lines_lost"] == (lines if recorded else None)
    assert str(shard) not in check.paths


@pytest.mark.unit
def test_a_sound_shard_with_its_record_passes_and_a_remote_one_is_checked_too(raw: Path, tmp_path: Path) -> None:
    shutil.copytree(raw / "bangumi", tmp_path / "bangumi")
    for path in sorted((tmp_path / "bangumi").glob("*.jsonl.gz")):
        _record(path)
    found = files.match(str(tmp_path / "bangumi" / "*.jsonl.gz"))
    assert check_raw_shards(found, command="acg2vec build texts").paths == [p for p, _ in found]
    # Through Beam's FileSystems: a shard cut short on an object store is found the same way.
    root = "acgmem://bucket/raw-check"
    DAMAGES["cut_short"](tmp_path / "bangumi" / "character-00000.jsonl.gz")
    (tmp_path / "bangumi" / MANIFEST_FILE).unlink()
    memfs.upload(tmp_path / "bangumi", f"{root}/bangumi")
    with pytest.raises(DamagedFileError, match=r"character-00000\.jsonl\.gz is damaged \(the gzip stream ends early"):
        check_raw_shards(files.match(f"{root}/bangumi/*.jsonl.gz"), command="acg2vec build texts")


@pytest.mark.unit
def test_a_recorded_shard_that_is_gone_is_named_with_the_lines_it_held(raw: Path, tmp_path: Path) -> None:
    shutil.copytree(raw / "bangumi", tmp_path / "bangumi")
    for path in sorted((tmp_path / "bangumi").glob("*.jsonl.gz")):
        _record(path)
    gone = tmp_path / "bangumi" / "person-00000.jsonl.gz"
    lines = _lines(gone)
    gone.unlink()  # a copy that stopped before this file
    patterns = [str(tmp_path / "bangumi" / f"{kind}-*.jsonl*") for kind in ("work", "character", "person")]
    found = [f for pattern in patterns for f in files.match(pattern)]
    with pytest.raises(DamagedFileError) as caught:
        check_raw_shards(found, command="acg2vec build texts", patterns=patterns)
    assert str(caught.value).startswith(f"{gone} is damaged (missing: the crawl recorded it); its {lines:,} lines")
    record = check_raw_shards(found, command="acg2vec build texts", patterns=patterns, skip_damaged=True).record()
    assert (record["found"], record["read"], record[DAMAGED_FILE], record["lines_lost"]) == (3, 2, 1, lines)


@pytest.mark.unit
def test_a_plain_jsonl_shard_cut_in_a_line_is_found_by_its_missing_line_end(tmp_path: Path) -> None:
    shard = tmp_path / "bangumi" / "work-00000.jsonl"
    shutil.copytree(DUMMY_RAW / "bangumi", shard.parent)
    assert check_raw_shards(files.match(str(shard)), command="acg2vec build texts").paths == [str(shard)]
    DAMAGES["cut_short"](shard)
    with pytest.raises(DamagedFileError, match=r"its last line has no line end: the file was cut short"):
        check_raw_shards(files.match(str(shard)), command="acg2vec build texts")


@pytest.mark.integration
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_build_refuses_a_damaged_shard_and_writes_nothing(raw: Path, tmp_path: Path, damage: str) -> None:
    workdir = _workdir(raw, tmp_path)
    DAMAGES[damage](workdir / "raw" / TEXT_SHARD)
    DAMAGES[damage](workdir / "raw" / POST_SHARD)
    for args, shard, source in (
        (["build", "texts", "--mode", "in_memory"], TEXT_SHARD, "bangumi"),
        (["build", "entities"], TEXT_SHARD, "bangumi"),
        (["build", "images", *IMAGE_RULES, "--mode", "in_memory"], POST_SHARD, "safebooru"),
    ):
        code, said = _run(workdir, *args)
        assert code == 3, said
        assert said.startswith(f"{workdir / 'raw' / shard} is damaged ("), said
        assert f"`acg2vec crawl {source}`" in said and f"`acg2vec {' '.join(args[:2])}" in said
        assert not (workdir / "datasets").exists()  # refused before anything is written


@pytest.mark.integration
def test_build_texts_skip_damaged_builds_without_them_and_the_cards_say_what_was_lost(
    raw: Path, tmp_path: Path
) -> None:
    workdir = _workdir(raw, tmp_path)
    cut, changed = workdir / "raw" / TEXT_SHARD, workdir / "raw" / "wikipedia" / "section-00000.jsonl.gz"
    cut_lines = _lines(cut)
    _record(cut)  # this one the crawl recorded: its loss is exact
    DAMAGES["cut_short"](cut)
    DAMAGES["random_middle"](changed)
    code, said = _run(workdir, "build", "texts", "--mode", "in_memory", "--skip-damaged")
    assert code == 0, said
    version = workdir / "datasets" / "acg_text_pairs" / "1.0.0"
    meta = json.loads((version / schema.BUILD_METADATA).read_text())
    shards = meta["raw_shards"]
    sound = [p for p in (workdir / "raw").rglob("*.jsonl.gz") if p not in (cut, changed)]
    text_shards = [p for p in sound if p.parent.name in meta["config"]["sources"] and not p.name.startswith("tag-")]
    assert shards["found"] == shards["read"] + shards[DAMAGED_FILE] == len(text_shards) + 2
    n = len(text_shards)
    assert f"raw shards ({DAMAGED_FILE}) read {n + 2} = kept {n} + dropped 2" in said  # the console says it too
    assert {s["shard"]: s["lines_lost"] for s in shards["skipped"]} == {str(cut): cut_lines, str(changed): None}
    # The lines of the sound shards are exactly the lines the build read: nothing of the damaged ones got in.
    assert meta["accounting"]["lines_read"] == sum(_lines(p) for p in text_shards)
    card = (version / "README.md").read_text()
    assert "## Damaged raw shards skipped" in card
    assert f"| {cut} | {cut.stat().st_size:,} bytes where the crawl wrote " in card  # found by its recorded size
    assert f"| {cut_lines} | `acg2vec crawl bangumi` |" in card
    assert f"| {changed} | the gzip stream is corrupt" in card and "| unknown | `acg2vec crawl wikipedia` |" in card
    dead = _jsonl(version / "dead_letters" / f"{STEP}.jsonl.gz")
    assert sorted((d["reason"], d["record"]["path"]) for d in dead) == sorted(
        [(DAMAGED_FILE, str(cut)), (DAMAGED_FILE, str(changed))]
    )
    entities = workdir / "datasets" / "acg_entities"
    entity_meta = json.loads(next(entities.rglob("build_metadata.json")).read_text())
    assert entity_meta["raw_shards"][DAMAGED_FILE] == 2
    assert "## Damaged raw shards skipped" in next(entities.rglob("README.md")).read_text()
    # The repair: the shards as the crawl fetches them again; the next build reads them and skips nothing.
    shutil.copy(raw / TEXT_SHARD, cut)
    shutil.copy(raw / "wikipedia" / "section-00000.jsonl.gz", changed)
    _record(cut)
    code, said = _run(workdir, "build", "entities")
    assert code == 0, said
    entity_meta = json.loads(next(entities.rglob("build_metadata.json")).read_text())
    assert entity_meta["raw_shards"][DAMAGED_FILE] == 0
    assert entity_meta["raw_shards"]["read"] == entity_meta["raw_shards"]["found"]


@pytest.mark.integration
def test_build_images_skips_a_damaged_post_shard_and_dead_letters_every_damaged_image_file(
    raw: Path, tmp_path: Path
) -> None:
    workdir = _workdir(raw, tmp_path)
    safebooru = workdir / "raw" / "safebooru"
    DAMAGES["wrong_kind"](safebooru / "post-00001.jsonl.gz")
    with gzip.open(safebooru / "post-00000.jsonl.gz", "rt") as fh:
        posts = [json.loads(line) for line in fh]
    damaged = dict(zip(sorted(DAMAGES), posts, strict=False))  # one post's file per damage of the zoo
    for damage, post in damaged.items():
        DAMAGES[damage](safebooru / post["file_path"])
    code, said = _run(workdir, "build", "images", *IMAGE_RULES, "--mode", "in_memory", "--skip-damaged")
    assert code == 0, said
    version = workdir / "datasets" / "acg_illustrations" / "64" / "1.0.0"
    counts = json.loads((version / "metadata.json").read_text())["counts"]
    posts_counts = counts["posts"]
    assert posts_counts["by_reason"] == {DAMAGED_FILE: len(DAMAGES)}  # never image-truncated or -undecodable
    assert posts_counts["read"] == len(posts) == posts_counts["written"] + posts_counts["dropped"]
    assert counts["raw_shards"][DAMAGED_FILE] == 1 and counts["raw_shards"]["skipped"][0]["shard"].endswith(
        "post-00001.jsonl.gz"
    )
    assert f"raw shards ({DAMAGED_FILE}) read 2 = kept 1 + dropped 1" in said
    dead = [d for path in sorted((version / "dead_letters").glob("DecodeResize*.jsonl.gz")) for d in _jsonl(path)]
    assert sorted(d["record"]["id"] for d in dead) == sorted(p["id"] for p in damaged.values())
    for letter in dead:
        assert letter["reason"] == DAMAGED_FILE
        assert letter["detail"].startswith(f"{letter['record']['file_path']} is damaged (")
        assert "not to the post's md5" in letter["detail"] and "`acg2vec crawl safebooru`" in letter["detail"]
    card = (version / "README.md").read_text()
    assert f"| {DAMAGED_FILE} |" in card and "post-00001.jsonl.gz | not a gzip file" in card


@pytest.mark.slow
@pytest.mark.integration
def test_the_repair_the_sentence_names_works_a_crawl_rerun_brings_back_what_a_damaged_shard_and_file_lost(
    workdir: Path, sample_site
) -> None:
    crawl = ["crawl", "safebooru", "--limit", "12", "--base-url", sample_site.url_for("safebooru"), "--no-throttle"]
    build = ["build", "images", *IMAGE_RULES, "--mode", "in_memory"]
    code, said = _run(workdir, *crawl)
    assert code == 0, said
    safebooru = workdir / "raw" / "safebooru"
    (shard,) = sorted(safebooru.glob("post-*.jsonl.gz"))
    with gzip.open(shard, "rt") as fh:
        posts = [json.loads(line) for line in fh]
    DAMAGES["random_middle"](safebooru / posts[0]["file_path"])
    DAMAGES["cut_short"](shard)
    code, said = _run(workdir, *build)
    assert code == 3 and said.startswith(f"{shard} is damaged (") and "`acg2vec crawl safebooru`" in said, said
    assert "its 12 lines (items, as the crawl counted them) are lost" in said  # the crawl recorded the shard
    code, said = _run(workdir, *crawl)  # the repair, as the sentence says
    assert code == 0, said
    code, said = _run(workdir, *build)
    assert code == 0, said
    counts = json.loads((workdir / "datasets/acg_illustrations/64/1.0.0/metadata.json").read_text())["counts"]
    assert counts["raw_shards"][DAMAGED_FILE] == 0 and DAMAGED_FILE not in counts["posts"]["by_reason"]
    assert counts["posts"]["read"] == 12

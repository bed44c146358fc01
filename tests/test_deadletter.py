"""deadletter: the one dead-letter layout (record, file, counter names) shared by every stage."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from acg2vec.deadletter import (
    DeadLetters,
    counter_name,
    dead_letter_path,
    dead_letter_prefix,
    dead_letter_record,
    read_dead_letters,
)
from tests.damage import DAMAGES


@pytest.mark.unit
def test_record_shape_cuts_long_values() -> None:
    record = dead_letter_record("bad-json", b"\xff{", step="Posts", detail="x" * 900)
    assert set(record) == {"reason", "detail", "step", "record"}
    assert record["reason"] == "bad-json" and record["step"] == "Posts" and len(record["detail"]) == 500
    assert record["record"] == "\ufffd{"  # bytes kept readable, bad bytes replaced
    assert len(dead_letter_record("r", "y" * 5000)["record"]) == 2000
    assert dead_letter_record("r", {"a": object()})["record"].startswith("{'a': <object")


@pytest.mark.unit
def test_paths_and_counter_names() -> None:
    assert dead_letter_path("/w/datasets/x/1.0.0", "Posts") == "/w/datasets/x/1.0.0/dead_letters/Posts.jsonl.gz"
    assert dead_letter_prefix("gs://b/x/", "Lines") == "gs://b/x/dead_letters/Lines"
    assert counter_name("Posts", "bad-json") == "Posts-bad-json"


@pytest.mark.unit
def test_dead_letters_writes_the_layout_and_counts(tmp_path: Path) -> None:
    path = dead_letter_path(tmp_path, "Embed")
    with DeadLetters(path, step="Embed") as dead:
        dead.add("blank-line", {"line": 3})
        dead.add("blank-line", {"line": 9}, detail="empty")
    assert dead.total == 2 and dead.counters() == {"Embed-blank-line": 2}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[1] == {"reason": "blank-line", "detail": "empty", "step": "Embed", "record": {"line": 9}}
    counting = DeadLetters(None)  # count only, as before
    counting.add("x")
    assert counting.counts == {"x": 1}


@pytest.mark.unit
def test_runs_append_unless_the_step_rewrites_its_output(tmp_path: Path) -> None:
    path = dead_letter_path(tmp_path, "eval-texts")

    def run(fresh: bool, drops: int) -> list[dict]:
        with DeadLetters(path, step="eval-texts", fresh=fresh) as dead:
            for n in range(drops):
                dead.add("missing-text", {"row": n})
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]

    assert len(run(fresh=False, drops=2)) == 2
    assert len(run(fresh=False, drops=1)) == 3  # appended, as a crawl's runs are
    assert len(run(fresh=True, drops=1)) == 1  # this run's drops only
    with DeadLetters(path, step="eval-texts", fresh=True):
        pass
    assert not Path(path).exists()  # a clean rerun leaves no stale letters behind


# -- damaged dead-letter files ------------------------------------------------------------------------------------


def _letters(path: Path, n: int, start: int = 0) -> None:
    with DeadLetters(path, step="curate") as dead:
        for i in range(start, start + n):
            dead.add("undecodable-image", {"id": i, "pad": "x" * (i % 40)})


@pytest.mark.unit
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_dead_letter_file_is_a_warning_naming_it_and_the_next_run_appends_readably(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    import logging

    path = Path(dead_letter_path(tmp_path, "curate"))
    _letters(path, 300)
    DAMAGES[damage](path)
    with caplog.at_level(logging.WARNING, logger="acg2vec.deadletter"):
        records = read_dead_letters(path)  # never raises: the report's counts come from the manifest
    assert f"{path} is damaged (" in caplog.text and "whole records before the damage" in caplog.text
    assert len(records) < 300
    if damage == "cut_short":  # the whole records before the cut, in order
        assert [r["record"]["id"] for r in records] == list(range(len(records))) and len(records) > 100
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="acg2vec.deadletter"):
        _letters(path, 2, start=1000)  # a later run appending to it
    assert f"{path} was damaged (" in caplog.text and (tmp_path / "dead_letters" / "curate.jsonl.gz.damaged").is_file()
    again = read_letters(path)  # plain gzip reads the whole file again
    assert [r["record"]["id"] for r in again[-2:]] == [1000, 1001] and len(again) == len(records) + 2


@pytest.mark.unit
def test_a_killed_run_leaves_every_record_it_wrote_readable(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = Path(dead_letter_path(tmp_path, "embed"))
    # No close, no exit handlers: the process ends as a kill would end it, the gzip stream without its end.
    code = (
        "import os, sys\n"
        "from acg2vec.deadletter import DeadLetters\n"
        "dead = DeadLetters(sys.argv[1], step='embed')\n"
        "for i in range(50):\n"
        "    dead.add('blank-line', {'line': i})\n"
        "os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=Path(__file__).parents[1], check=False)
    assert done.returncode == 9
    with pytest.raises(EOFError):
        read_letters(path)  # the stream has no end ...
    assert [r["record"]["line"] for r in read_dead_letters(path)] == list(range(50))  # ... but every record is there
    with DeadLetters(path, step="embed") as dead:
        dead.add("blank-line", {"line": 50})
    assert [r["record"]["line"] for r in read_letters(path)] == list(range(51))


# -- every stage, one layout ------------------------------------------------------------------------------------

LAYOUT = re.compile(r"/dead_letters/(?P<step>[a-z0-9]+(?:-[a-z0-9]+)*)\.jsonl\.gz$")


def read_letters(path: str | Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def reasons_of(path: str | Path) -> dict[str, int]:
    return dict(Counter(d["reason"] for d in read_letters(path)))


def _hashed_chars(texts: list[str]) -> np.ndarray:
    """A text encoder with no model: character counts hashed into 64 dimensions."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for char in text:
            out[row, ord(char) % 64] += 1.0
    return out


def _text_pairs(datasets: Path) -> None:
    """A held-out corpus with one pair whose positive is blank, and a train split for the lexical baseline."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    works = {"w1": ("涼宮ハルヒの憂鬱", "凉宫春日的忧郁"), "w2": ("機動戦士ガンダム", "机动战士高达"),
             "w3": ("けいおん!", "轻音少女"), "w4": ("魔法少女まどか☆マギカ", "魔法少女小圆")}  # fmt: skip
    rows = [
        {"anchor": ja, "positive": zh, "pair_type": "title_ja-title_zh", "source": "bangumi", "entity_id": work,
         "anchor_lang": "ja", "positive_lang": "zh"}
        for work, (ja, zh) in works.items()
    ]  # fmt: skip
    splits = {"validation": [*rows, dict(rows[0], positive="  ", entity_id="blank")], "test": rows, "train": rows}
    for split, split_rows in splits.items():
        folder = datasets / "parquet" / "acg_text_pairs" / split
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(split_rows), folder / "part-00000.parquet")
    (datasets / "parquet" / "acg_text_pairs" / "build_metadata.json").write_text("{}", encoding="utf-8")


@pytest.mark.integration
def test_crawl_predict_embed_and_eval_write_the_one_layout_and_their_counts_add_up(
    workdir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app
    from acg2vec.crawlers.bangumi_archive import import_archive
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.evaluation.text_retrieval import evaluate_text_retrieval
    from acg2vec.workspace import Workspace
    from tests.crawlers.test_bangumi_archive import make_zip
    from tests.trainers.image.exported_tagger import export_tiny_tagger, write_image_files

    ws = Workspace.at(workdir)
    fixtures = Path(__file__).parent / "crawlers" / "fixtures"

    # crawl: the pixiv importer (a Scrapy crawl in its child process) and the Bangumi Archive importer.
    pixiv = run_spider("pixiv", workspace=ws, spider_args={"from_dir": str(fixtures / "pixiv")},
                       throttle=False, quiet=True, timeout=120)  # fmt: skip
    bangumi = import_archive(make_zip(tmp_path), workspace=ws)
    for report, step in ((pixiv, "pixiv"), (bangumi, "bangumi-archive")):
        letters = dead_letter_path(ws.raw(report.source), step)
        # The report's counters (<step>-<reason>) are exactly the file's lines.
        assert report.dead_lettered == {counter_name(step, r): n for r, n in sorted(reasons_of(letters).items())}
        assert report.dead_lettered  # the fixtures hold bad input
        assert sum(report.dead_lettered.values()) == sum(report.dropped.values()) + sum(report.bad_input.values())
        manifest = json.loads(Path(ws.raw(report.source), "manifest.json").read_text(encoding="utf-8"))
        assert manifest["runs"][-1]["dead_lettered"] == report.dead_lettered

    # predict and embed: read = written + dropped (three images and one file that is not an image).
    model_dir, _, _ = export_tiny_tagger(tmp_path / "models" / "deepdanbooru")
    images = tmp_path / "images"
    images.mkdir()
    files = write_image_files(images)
    runner = CliRunner()
    predicted = runner.invoke(app, ["--workdir", str(workdir), "predict", str(images), "--model", str(model_dir)])
    assert predicted.exit_code == 0, predicted.output
    tagged = [line for line in predicted.stdout.splitlines() if line.startswith(str(images))]
    predict_letters = Path(ws.logs()) / "dead_letters" / "predict.jsonl.gz"
    assert len(files) == len(tagged) + len(read_letters(predict_letters)) == 3 + 1
    out = tmp_path / "embeddings" / "images"
    args = ["--workdir", str(workdir), "embed", str(images), "--model", str(model_dir), "--output", str(out)]
    embedded = runner.invoke(app, args)
    assert embedded.exit_code == 0, embedded.output
    embed_letters = tmp_path / "embeddings" / "dead_letters" / "embed.jsonl.gz"
    assert len(files) == len(np.load(f"{out}.npy")) + len(read_letters(embed_letters)) == 3 + 1

    # eval texts: rows read = used + dropped, and the file holds the dropped rows.
    datasets, eval_dir = tmp_path / "datasets", workdir / "eval" / "run1"
    _text_pairs(datasets)
    metrics = evaluate_text_retrieval(None, str(datasets), str(eval_dir), encoders={"hashed": _hashed_chars})
    assert metrics["rows_read"] == metrics["rows_used"] + sum(metrics["rows_dropped"].values())
    assert (
        metrics["rows_dropped"] == reasons_of(eval_dir / "dead_letters" / "eval-texts.jsonl.gz") == {"missing-text": 1}
    )

    # Every dead-letter file any stage wrote is <output folder>/dead_letters/<step>.jsonl.gz, and each of its
    # lines is {"reason", "detail", "step", "record"} with the file's step.
    # (Any file with "dead" in its path below the two roots: an old-style name would be caught as well.)
    written = sorted(
        {p for root in (workdir, tmp_path) for p in root.rglob("*") if "dead" in str(p.relative_to(root))}
    )
    files_by_step = {}
    for path in written:
        if path.is_dir():
            assert path.name == "dead_letters", path
            continue
        match = LAYOUT.search(path.as_posix())
        assert match, f"{path} is not in the dead-letter layout"
        files_by_step[match["step"]] = path
        for letter in read_letters(path):
            assert set(letter) == {"reason", "detail", "step", "record"} and letter["step"] == match["step"]
    assert set(files_by_step) == {"pixiv", "bangumi-archive", "predict", "embed", "eval-texts"}

"""Report files: markdown with plot links, html with embedded PNGs, metrics.json; sections accumulate per run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from acg2vec.evaluation.report import Section, Table, write_report

pytestmark = pytest.mark.unit


def png(path) -> str:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def test_report_files_with_plots(tmp_path):
    run = tmp_path / "eval" / "r1"
    run.mkdir(parents=True)
    plot = png(run / "curve.png")
    section = Section(
        key="ann",
        title="ANN",
        text="a | b",
        plots=[plot],
        tables=[Table(["index", "recall@10"], [["HNSW32", "0.951"], ["Flat", "1.000"]], caption="vs exact")],
        metrics={"best": {"recall_at_10": 0.951}},
    )
    paths = write_report(run, [section])
    md = Path(paths["markdown"]).read_text()
    assert "## ANN" in md and "| index | recall@10 |" in md and "| HNSW32 | 0.951 |" in md
    assert "![curve](curve.png)" in md  # relative: the run folder can be moved as a whole
    html = Path(paths["html"]).read_text()
    encoded = base64.b64encode((run / "curve.png").read_bytes()).decode()
    assert f"data:image/png;base64,{encoded}" in html and "<td>HNSW32</td>" in html
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert metrics["run"] == "r1" and metrics["ann"]["best"]["recall_at_10"] == 0.951


def test_sections_accumulate_and_replace_by_key(tmp_path):
    write_report(tmp_path, [Section(key="ann", title="ANN", metrics={"v": 1})])
    write_report(tmp_path, [Section(key="tagger:alt_i2v", title="Tagging: alt_i2v", metrics={"v": 2})])
    paths = write_report(tmp_path, [Section(key="ann", title="ANN again", metrics={"v": 3})])
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert metrics["ann"] == {"v": 3} and metrics["tagger:alt_i2v"] == {"v": 2}
    md = Path(paths["markdown"]).read_text()
    assert "ANN again" in md and md.index("Tagging: alt_i2v") < md.index("ANN again")  # tagging first
    assert "## ANN\n" not in md


def test_missing_plot_is_said_not_crashed(tmp_path):
    paths = write_report(tmp_path, [Section(key="images", title="Images", plots=[str(tmp_path / "gone.png")])])
    assert "plot missing" in Path(paths["html"]).read_text()


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "random_middle", "wrong_kind", "older_format"])
def test_a_damaged_section_is_left_out_named_and_counted(tmp_path, caplog, damage):
    import logging

    from tests.damage import DAMAGES

    write_report(tmp_path, [Section(key="tagger:alt_i2v", title="Tagging: alt_i2v", text="t" * 400, metrics={"v": 1})])
    section = tmp_path / "sections" / "tagger:alt_i2v.json"
    DAMAGES[damage](section)
    with caplog.at_level(logging.WARNING, logger="acg2vec.evaluation.report"):
        paths = write_report(tmp_path, [Section(key="ann", title="ANN", metrics={"v": 2})])
    sentence = f"{section} is damaged ("
    assert sentence in caplog.text and "repair it with `acg2vec eval tagger --run " in caplog.text
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert metrics["ann"] == {"v": 2} and "tagger:alt_i2v" not in metrics
    assert [d["path"] for d in metrics["damaged-file"]] == [str(section)]
    assert sentence in Path(paths["markdown"]).read_text() and "Left out" in Path(paths["html"]).read_text()


def test_a_full_disk_fails_the_report_in_one_sentence_and_keeps_the_previous_one(tmp_path):
    from acg2vec.integrity import DiskFullError
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        run = disk.path / "main"
        paths = write_report(run, [Section(key="ann", title="ANN", metrics={"v": 1})])
        before = {name: Path(path).read_bytes() for name, path in paths.items()}
        disk.fill(leave=2048)
        try:
            with pytest.raises(DiskFullError, match="disk is full"):
                write_report(run, [Section(key="ann", title="ANN", text="x" * 200_000, metrics={"v": 2})])
        finally:
            disk.free()
        assert {name: Path(path).read_bytes() for name, path in paths.items()} == before
        assert json.loads((run / "sections" / "ann.json").read_text())["metrics"] == {"v": 1}

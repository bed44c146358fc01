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

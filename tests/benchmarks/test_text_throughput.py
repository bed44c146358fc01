"""benchmarks/text_throughput.py end to end on tiny inputs: a tiny E5-shaped model, a few real titles, one thread."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks.scripts import load_script
from tests.conftest import SHARED_FIXTURES
from tests.trainers.text.test_onnx_export import tiny_e5_like

pytestmark = pytest.mark.integration

REAL_TITLES = SHARED_FIXTURES / "anime_titles" / "zhwiki_season_lists_2009_2017.jsonl"


def few_seasons(out: Path, per_year: int = 12) -> Path:
    """The first ``per_year`` rows of each of 2014-2016 from the real titles: train, validation and test seasons."""
    rows = [json.loads(line) for line in REAL_TITLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = []
    for year in ("2014", "2015", "2016"):
        by_season: dict[str, list] = {}
        for row in rows:
            if row["_src"].startswith(f"{year} "):
                by_season.setdefault(row["_src"], []).append(row)
        kept += [row for season_rows in by_season.values() for row in season_rows[: per_year // len(by_season) + 1]]
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept), encoding="utf-8")
    return out


@pytest.mark.skipif(not REAL_TITLES.is_file(), reason=f"the real title fixture is not at {REAL_TITLES}")
def test_the_throughput_benchmark_measures_every_engine_against_the_anchor(tmp_path: Path) -> None:
    module = load_script("text_throughput")
    model = tiny_e5_like(tmp_path / "tiny")
    out = tmp_path / "report.json"
    args = ["--fixture", str(few_seasons(tmp_path / "titles.jsonl")), "--model", str(model)]
    args += ["--workdir", str(tmp_path / "work"), "--titles", "8", "--summaries", "4", "--repeats", "2"]
    assert module.main([*args, "--threads", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["inputs"]["titles"]["texts"] == 8
    assert report["inputs"]["summaries"] == {"texts": 4, "mean_chars": 200.0, "mean_tokens": 24.0}  # cut at 24
    for kind in ("titles", "summaries"):
        figures = report["speed"][kind]["1"]
        assert list(figures) == list(module.ENGINES)
        assert figures[module.ANCHOR]["ratio"] == figures[module.ANCHOR]["cpu_ratio"] == 1.0
        assert all(f["texts_per_s"] > 0 and f["cpu_ms_per_text"] > 0 for f in figures.values())
    acc = report["acc@1"]
    # The tiny model is the same function in torch and ONNX fp32; the engine is the real E5.
    assert acc["sentence-transformers fp32"] == acc["ONNX fp32"]
    assert acc[module.ANCHOR]["mean"] > 0.5
    assert report["int8"]["acc@1_fp32"] == acc["ONNX fp32"]["mean"]
    assert report["int8"]["offered"] == (report["int8"]["acc@1_drop"] <= 0.01)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_summaries_are_exactly_200_characters_of_each_language() -> None:
    module = load_script("text_throughput")
    texts = module.summaries(6)
    assert len(texts) == 6 and {len(t) for t in texts} == {200}
    assert texts[0] != texts[1] != texts[2]  # ja, zh-Hans, en openings of one work

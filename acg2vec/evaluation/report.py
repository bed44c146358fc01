"""Evaluation reports: ``eval/<run>/report.md``, ``report.html`` (plots embedded) and ``metrics.json``.

Each ``acg2vec eval`` command adds its section to the run: sections are kept as ``sections/<key>.json``
and the three files are rebuilt from all of them, so ``eval tagger`` then ``eval ann`` into one run give one report.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SECTIONS_DIR = "sections"


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(slots=True)
class Section:
    """One part of a report: prose, tables, plots (PNG paths) and the machine-readable metrics."""

    key: str
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Section:
        tables = [Table(**t) for t in data.get("tables", [])]
        return cls(
            key=data["key"],
            title=data["title"],
            text=data.get("text", ""),
            tables=tables,
            plots=list(data.get("plots", [])),
            metrics=data.get("metrics", {}),
        )


def _plot_name(run_dir: Path, plot: str) -> str:
    """Plot paths relative to the run folder, so the report can be moved as one folder."""
    path = Path(plot)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return path.as_posix()


def write_report(
    run_dir: str | os.PathLike[str], sections: list[Section], *, title: str = "acg2vec evaluation"
) -> dict[str, str]:
    """Add ``sections`` to the run in ``run_dir`` and rewrite report.md, report.html and metrics.json.

    Returns the paths written, keyed "markdown", "html" and "metrics".
    """
    run = Path(run_dir)
    (run / SECTIONS_DIR).mkdir(parents=True, exist_ok=True)
    for section in sections:
        section.plots = [_plot_name(run, p) for p in section.plots]
        data = asdict(section)
        (run / SECTIONS_DIR / f"{section.key}.json").write_text(_dumps(data), encoding="utf-8")
    stored = [
        Section.from_dict(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted((run / SECTIONS_DIR).glob("*.json"))
    ]
    order = ["tagger", "images", "texts", "ann"]
    stored.sort(
        key=lambda s: (order.index(s.key.split(":")[0]) if s.key.split(":")[0] in order else len(order), s.key)
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    metrics = {"run": run.name, "written_at": stamp, **{s.key: s.metrics for s in stored}}
    paths = {
        "markdown": str(run / "report.md"),
        "html": str(run / "report.html"),
        "metrics": str(run / "metrics.json"),
    }
    Path(paths["metrics"]).write_text(_dumps(metrics), encoding="utf-8")
    Path(paths["markdown"]).write_text(_markdown(title, run.name, stamp, stored), encoding="utf-8")
    Path(paths["html"]).write_text(_html(title, run.name, stamp, stored, run), encoding="utf-8")
    return paths


def _dumps(data: Any) -> str:
    def default(value: Any) -> Any:
        if hasattr(value, "item"):  # numpy scalars
            return value.item()
        if hasattr(value, "tolist"):
            return value.tolist()
        return str(value)

    return json.dumps(data, ensure_ascii=False, indent=2, default=default, allow_nan=True)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, run: str, stamp: str, sections: list[Section]) -> str:
    lines = [f"# {title}: {run}", "", f"Written {stamp}. Machine-readable figures: `metrics.json`.", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        for table in section.tables:
            if table.caption:
                lines += [f"*{table.caption}*", ""]
            lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
            lines.append("|" + "---|" * len(table.columns))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            lines.append("")
        for plot in section.plots:
            lines += [f"![{Path(plot).stem}]({plot})", ""]
    return "\n".join(lines)


def _html(title: str, run: str, stamp: str, sections: list[Section], run_dir: Path) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}: {esc(run)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%;margin:0.5em 0}caption{caption-side:top;font-style:italic;text-align:left}</style>",
        "</head><body>",
        f"<h1>{esc(title)}: {esc(run)}</h1><p>Written {esc(stamp)}. Machine-readable figures: metrics.json.</p>",
    ]
    for section in sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{esc(section.text)}</p>")
        for table in section.tables:
            parts.append("<table>")
            if table.caption:
                parts.append(f"<caption>{esc(table.caption)}</caption>")
            parts.append("<tr>" + "".join(f"<th>{esc(str(c))}</th>" for c in table.columns) + "</tr>")
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        for plot in section.plots:
            path = Path(plot) if Path(plot).is_absolute() else run_dir / plot
            if path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                parts.append(f"<img alt='{esc(path.stem)}' src='data:image/png;base64,{data}'>")
            else:
                parts.append(f"<p>(plot missing: {esc(plot)})</p>")
    parts.append("</body></html>")
    return "\n".join(parts)

"""Evaluation reports: ``eval/<run>/report.md``, ``report.html`` (plots embedded) and ``metrics.json``.

Each ``acg2vec eval`` command adds its section to the run: sections are kept as ``sections/<key>.json``
and the three files are rebuilt from all of them, so ``eval tagger`` then ``eval ann`` into one run give one report.

Every file is written whole or not at all (:func:`acg2vec.integrity.atomic_write`; plots through
:func:`save_figure`), so a crash or a full disk leaves the previous report readable. A section file found damaged
is left out with a warning naming it and the command that writes it again, and listed in ``metrics.json`` under
``damaged-file``, never silently dropped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acg2vec.integrity import DAMAGED_FILE, DamagedFileError, atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

SECTIONS_DIR = "sections"
ORDER = ("tagger", "images", "texts", "ann")  # report order of the sections, by the command that wrote them


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
        atomic_write_text(run / SECTIONS_DIR / f"{section.key}.json", _dumps(data))
    stored, damaged = read_sections(run)
    stored.sort(
        key=lambda s: (ORDER.index(s.key.split(":")[0]) if s.key.split(":")[0] in ORDER else len(ORDER), s.key)
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    metrics = {"run": run.name, "written_at": stamp, **{s.key: s.metrics for s in stored}}
    if damaged:
        metrics[DAMAGED_FILE] = [err.to_dict() for err in damaged]
    paths = {
        "markdown": str(run / "report.md"),
        "html": str(run / "report.html"),
        "metrics": str(run / "metrics.json"),
    }
    notes = [str(err) for err in damaged]
    atomic_write_text(paths["metrics"], _dumps(metrics))
    atomic_write_text(paths["markdown"], _markdown(title, run.name, stamp, stored, notes))
    atomic_write_text(paths["html"], _html(title, run.name, stamp, stored, run, notes))
    return paths


def read_sections(run_dir: str | os.PathLike[str]) -> tuple[list[Section], list[DamagedFileError]]:
    """The stored sections of a run, and the section files found damaged (each logged as a warning that names it
    and the command writing it again; the report goes on without them)."""
    sections, damaged = [], []
    for path in sorted(Path(run_dir, SECTIONS_DIR).glob("*.json")):
        try:
            sections.append(Section.from_dict(json.loads(path.read_bytes().decode("utf-8"))))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            problem = "it is empty (0 bytes)" if not path.stat().st_size else f"not a report section ({err})"
            command = path.stem.split(":")[0]
            repair = f"acg2vec eval {command} --run {Path(run_dir).name}" if command in ORDER else ""
            error = DamagedFileError(path, problem, lost="its section is left out of the report", repair=repair)
            log.warning("%s", error)
            damaged.append(error)
    return sections, damaged


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110) -> str:
    """Save a matplotlib figure as PNG, whole or not at all (rendered in memory, then written atomically)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return str(path)


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


def _markdown(title: str, run: str, stamp: str, sections: list[Section], notes: list[str] = ()) -> str:
    lines = [f"# {title}: {run}", "", f"Written {stamp}. Machine-readable figures: `metrics.json`.", ""]
    lines += [f"**Left out:** {note}\n" for note in notes]
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


def _html(title: str, run: str, stamp: str, sections: list[Section], run_dir: Path, notes: list[str] = ()) -> str:
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
        *(f"<p><b>Left out:</b> {esc(note)}</p>" for note in notes),
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

"""``acg2vec curate``: find the labels of a built dataset version that are likely missing or wrong.

Only typer, the standard library and acg2vec's core are imported here; the stage loads inside the command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from acg2vec.commands.options import apply_overrides
from acg2vec.commands.state import workspace
from acg2vec.errors import UserError
from acg2vec.logs import console

app = typer.Typer()


def _model(value: str | None) -> str:
    """A model given by name (a folder under models/) or by path; by default the workdir's first image model."""
    from acg2vec.trainers.image.models.registry import EMBEDDER_PREFERENCE
    from acg2vec.trainers.image.predict import find_model

    ws = workspace()
    if value is None:
        return find_model(ws.models(), EMBEDDER_PREFERENCE, what="image")
    path = value if (os.sep in value or os.path.exists(value)) else ws.models(value)
    if not os.path.exists(path):
        raise UserError(f"no model at {path}; pass --model a folder under models/ or a path.")
    return str(Path(path).expanduser().resolve())


def read_truth(path: Path) -> dict[int, set[str]]:
    """A truth file: one JSON object per line, ``{"id": <post id>, "tags": [<true tags>]}``."""
    truth: dict[int, set[str]] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError as err:
        raise UserError(f"cannot read the truth file {path} ({err.strerror}).") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            truth[int(record["id"])] = set(record["tags"])
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path} line {number} is not {{'id': ..., 'tags': [...]}} ({err}).") from None
    return truth


@app.command(
    "curate",
    help="Find likely missing and wrong tags of a built acg_illustrations version (cross-fitted heads on a model's "
    "embeddings, cleanlab per tag); write curation/<run>/ with label_issues.parquet, a manifest and a report. "
    "Apply it with `acg2vec build images --apply-curation curation/<run>`.",
)
def curate(
    dataset: Path = typer.Argument(None, help="acg_illustrations folder or version folder (default: the workdir's)."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Image model whose embeddings are used (name under models/ or a path; default: "
        "the workdir's first image model, e.g. the tagger trained on this version).",
    ),  # fmt: skip
    run: str = typer.Option("main", help="Name of the run: its files are curation/<run>/ in the workdir."),
    folds: int = typer.Option(None, min=2, help="Cross-fitting folds (default 5)."),
    epochs: int = typer.Option(None, min=1, help="Epochs of each fold's head (default 40)."),
    min_positives: int = typer.Option(None, min=1, help="Training posts a tag needs to be scored (default 5)."),
    filter_by: str = typer.Option(
        None, help="cleanlab's filter: prune_by_noise_rate (default), prune_by_class, both, confident_learning."
    ),
    wrong_ranking: str = typer.Option(
        None,
        help="How flagged wrong tags are ranked: cooccurrence (default: the image probability with the post's other "
        "labels' evidence) or self_confidence (cleanlab's: the image probability alone).",
    ),
    category: list[str] = typer.Option(
        None, "--category", help="Tag category to score (repeatable; default: general; 'all': every category)."
    ),
    kind: list[str] = typer.Option(
        None, "--kind", help="Kind of label issue to report: missing, wrong (repeatable; default: both)."
    ),
    batch_size: int = typer.Option(64, min=1, help="Images per model call."),
    truth: Path = typer.Option(
        None, help="JSON lines {id, tags} of the true tags (a generated world): the report scores the flags."
    ),
) -> None:
    from acg2vec.curation.label_issues import IssueConfig
    from acg2vec.curation.pred_probs import HeadConfig
    from acg2vec.curation.stage import curate as run_curation
    from acg2vec.datasets.acg_illustrations.curation_files import curation_dir

    ws = workspace()
    data_dir = str(dataset) if dataset else os.path.join(ws.datasets(), "acg_illustrations")
    head = apply_overrides(HeadConfig(), folds=folds, epochs=epochs)
    issues = apply_overrides(
        IssueConfig(), min_positives=min_positives, filter_by=filter_by, wrong_ranking=wrong_ranking
    )
    if kind:
        unknown = sorted(set(kind) - {"missing", "wrong"})
        if unknown:
            raise UserError(f"unknown label issue kind {', '.join(unknown)}; use missing or wrong.")
        issues.kinds = tuple(kind)
    if category:
        issues.categories = None if "all" in category else tuple(category)
    known = read_truth(truth) if truth else None
    outcome = run_curation(data_dir, curation_dir(ws.root, run), _model(model), head=head, issues=issues,
                           truth=known, batch_size=batch_size)  # fmt: skip
    counts = outcome.manifest.counts["label_issues"]
    console.print(
        f"{outcome.manifest.dataset.describe()}: {counts['missing']} missing and {counts['wrong']} wrong tags "
        f"flagged\nreport: {outcome.report['markdown']}\n        {outcome.report['html']}",
        highlight=False,
    )

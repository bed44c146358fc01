"""``evaluate_tagger``: an exported tagger on a split of ``acg_illustrations``, with PR curves and a report section."""

from __future__ import annotations

import logging
import os

import numpy as np

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.published import repair_command
from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import dead_letter_bad_images, read_images, resolve_dataset_dir
from acg2vec.evaluation.report import Section, Table
from acg2vec.evaluation.tagging_metrics import plot_pr_curves, tagging_metrics
from acg2vec.integrity import DamagedFileError
from acg2vec.logs import progress_task
from acg2vec.trainers.image.image_model import load_image_model
from acg2vec.trainers.image.metrics import frequency_baseline

log = logging.getLogger(__name__)

STEP = "eval-tagger"  # dead letters: <out_dir>/dead_letters/eval-tagger.jsonl.gz


def evaluate_tagger(
    model_dir: str,
    data_dir: str,
    out_dir: str | None = None,
    *,
    split: str = "test",
    batch_size: int = 32,
    max_images: int | None = None,
) -> dict:
    """Tagging metrics of the tagger in ``model_dir`` on ``split`` of the dataset under ``data_dir``.

    ``model_dir`` is an acg2vec export or a release folder (DeepDanbooru, WD-style, ...: see
    :func:`acg2vec.trainers.image.image_model.load_image_model`); a release is scored on the tags of its own
    vocabulary that the dataset uses. Labels are the image's tags, characters, copyrights and artists that are in the model's vocabulary.
    Images the model cannot decode are counted and written to ``dead_letters/eval-tagger.jsonl.gz`` in ``out_dir``.
    """
    model = load_image_model(model_dir)
    if not model.has_tags:
        raise UserError(
            f"{model_dir} is not a tagger (it has no tag outputs); evaluate it with `acg2vec eval images`."
        )
    tag_info = TagVocabulary(model.tag_names, model.tag_categories, model.tag_counts)
    thresholds = model.thresholds
    records = read_images(data_dir, split=split, max_images=max_images)
    if not records.ids:
        raise UserError(f"the '{split}' split under {data_dir} has no images.")
    dead_path = dead_letter_path(out_dir, STEP) if out_dir else None
    with (
        DeadLetters(dead_path, step=STEP, fresh=True) as dead,  # a rerun of the run replaces its report
        progress_task("Computing tag probabilities", total=len(records.images)) as advance,
    ):
        scores, mask = model.embed_robust(
            records.images,
            dead_letter_bad_images(dead, records.images, records.ids),
            compute=model.tag_probabilities,
            batch_size=batch_size,
            advance=advance,
        )
    if not mask.any():
        raise UserError(f"the model could not read any of the {len(records.ids)} images of '{split}'.")
    column = {name: i for i, name in enumerate(tag_info.names)}
    y_true = np.zeros((int(mask.sum()), len(tag_info.names)), dtype=bool)
    for row, labels in enumerate(label for label, ok in zip(records.labels, mask, strict=True) if ok):
        for tag in labels:
            if tag in column:
                y_true[row, column[tag]] = True
    metrics = tagging_metrics(y_true, scores, tag_info, thresholds=thresholds)
    metrics["micro_pr"] = micro_precision_at_recall(y_true, scores, frequency_baseline(tag_info.counts, len(y_true)))
    metrics.update(
        model=os.path.basename(os.path.normpath(model_dir)),
        model_kind=model.kind,
        split=split,
        labels=dataset_labels(data_dir),
        images_read=len(records.ids),
        images_dropped=dict(dead.counts),
    )
    if out_dir:
        name = f"tagger_pr_{metrics['model']}.png"
        metrics["plot"] = plot_pr_curves(
            y_true, scores, tag_info, os.path.join(out_dir, name), p_eq_r=metrics["p_eq_r_threshold"]
        )
    log.info(
        "tagger %s: macro mAP %.3f (baseline %.3f)",
        metrics["model"],
        metrics["overall"]["model"]["macro_map"],
        metrics["overall"]["baseline"]["macro_map"],
    )
    return metrics


def dataset_labels(data_dir: str) -> dict:
    """Whose labels the scored version holds: the build's, or a curation run's fixes (a version written by
    ``acg2vec build images --apply-curation`` records the run in its ``metadata.json``)."""
    import json

    from acg2vec.beam_pipelines import files

    folder = resolve_dataset_dir(data_dir)
    path = files.join(folder, "metadata.json")
    curation = None
    if files.exists(path):
        data = files.read_bytes(path)
        try:
            curation = json.loads(data.decode("utf-8")).get("curation")
        except (UnicodeDecodeError, ValueError, AttributeError) as err:
            problem = "it is empty (0 bytes)" if not data else f"not the version's metadata ({err})"
            lost = "whose labels the version holds (built or curated) is unknown"
            raise DamagedFileError(path, problem, lost=lost, repair=repair_command(folder)) from None
    out = {"version": folder.rstrip("/").rsplit("/", 1)[-1], "curated": bool(curation)}
    if curation:
        out.update(run=curation.get("run"), min_confidence=curation.get("min_confidence"))
    return out


def _labels_text(labels: dict | None) -> str:
    if not labels:
        return ""
    if not labels["curated"]:
        return f"Labels: dataset version {labels['version']} as built (not curated). "
    return (
        f"Labels: dataset version {labels['version']}, curated by run '{labels['run']}' (label issues of confidence "
        f">= {labels['min_confidence']} applied). "
    )


RECALL_LEVELS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def micro_precision_at_recall(y_true: np.ndarray, scores: np.ndarray, baseline: np.ndarray) -> dict:
    """Interpolated micro precision (the best precision at recall >= r) of the model and the baseline at
    recall 0.1 ... 0.9: where the model's precision-recall curve lies above the baseline's, as numbers."""
    from sklearn.metrics import precision_recall_curve

    truth = np.asarray(y_true, dtype=bool).ravel()
    out: dict = {"recall": list(RECALL_LEVELS)}
    for who, score in (("model", scores), ("baseline", baseline)):
        if not truth.any():
            out[who] = [float("nan")] * len(RECALL_LEVELS)
            continue
        precision, recall, _ = precision_recall_curve(truth, np.asarray(score, dtype=np.float64).ravel())
        out[who] = [float(precision[recall >= r].max()) for r in RECALL_LEVELS]
    return out


def _f(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


def tagger_section(metrics: dict) -> Section:
    """The report section of one tagger: overall, per category and rare-tag slices, each beside the baseline."""
    columns = [
        "slice",
        "who",
        "tags (with positives)",
        "micro F1 @P=R",
        "macro F1 @P=R",
        "micro F1 tuned",
        "macro F1 tuned",
        "macro mAP",
    ]
    rows = []
    groups = [("all tags", metrics["overall"])]
    groups += [(f"category: {c}", g) for c, g in metrics["per_category"].items()]
    groups += [(name, g) for name, g in metrics["rare_slices"].items()]
    for label, group in groups:
        for who in ("model", "baseline"):
            m = group[who]
            rows.append(
                [
                    label,
                    who if who == "model" else "tag frequency",
                    f"{m['tags']} ({m['tags_with_positives']})",
                    _f(m["micro_f1_at_p_eq_r"]),
                    _f(m["macro_f1_at_p_eq_r"]),
                    _f(m["micro_f1_tuned"]),
                    _f(m["macro_f1_tuned"]),
                    _f(m["macro_map"]),
                ]
            )
    dropped = sum(metrics["images_dropped"].values())
    tuned = (
        "Thresholds tuned on this same split (optimistic): the model has no thresholds.json."
        if metrics["thresholds_tuned_on_eval_data"]
        else "Tuned = the model's thresholds.json."
    )
    text = (
        f"{_labels_text(metrics.get('labels'))}"
        f"{metrics['images']} images of '{metrics['split']}' evaluated of {metrics['images_read']} read "
        f"({dropped} set aside: {metrics['images_dropped'] or 'none'}). P=R threshold {_f(metrics['p_eq_r_threshold'])}. "
        f"{tuned} The tag-frequency baseline gives every image each tag's training frequency; its thresholds are "
        "tuned on this split. Macro averages cover tags with at least one positive image."
    )
    return Section(
        key=f"tagger:{metrics['model']}",
        title=f"Tagging: {metrics['model']}",
        text=text,
        tables=[Table(columns, rows)],
        plots=[metrics["plot"]] if metrics.get("plot") else [],
        metrics=metrics,
    )

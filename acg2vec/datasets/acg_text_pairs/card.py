"""The dataset card of an ``acg_text_pairs`` build and its chart of rows by pair type."""

from __future__ import annotations

import io
from typing import Any

from acg2vec.datasets.acg_text_pairs import schema

COUNTED_PREFIXES = ("Lines-", "Items-", "Pairs-", "Dedup-", "Joins-character-work")
NOT_DROPS = ("Lines-read", "Lines-parsed", "Pairs-candidates", "Pairs-cleaned")


def dataset_card(meta: dict[str, Any]) -> str:
    """The dataset card of one build: splits, counts by pair type and source, drops by reason."""
    lines = [
        f"# {schema.NAME} {meta['version']}",
        "",
        "Multilingual ACG text pairs built by `acg2vec build texts`. Split by entity_id (stable hash).",
        "",
        "| split | rows |",
        "|---|---:|",
        *[f"| {s} | {n} |" for s, n in meta["split_rows"].items()],
        "",
        "## Pairs by type and source",
        "",
        "| pair type | source | rows |",
        "|---|---|---:|",
    ]
    for pair_type, sources in meta["counts_by_pair_type_and_source"].items():
        lines += [f"| {pair_type} | {src} | {n} |" for src, n in sources.items()]
    lines += ["", "## Drops by reason", "", "| reason | count |", "|---|---:|"]
    lines += [
        f"| {k} | {v} |" for k, v in meta["counters"].items() if k.startswith(COUNTED_PREFIXES) and k not in NOT_DROPS
    ]
    acc = meta["accounting"]
    lines += [
        "",
        f"Lines read {acc['lines_read']} = items {acc['items_parsed']} + bad lines {acc['lines_dropped']}; "
        f"candidate pairs {acc['pair_candidates']} = written {acc['pairs_written']} + dropped {acc['pairs_dropped']}.",
        "",
    ]
    return "\n".join(lines)


def plot_counts(counts_by_type_source: dict[str, dict[str, int]]) -> bytes:
    """A PNG bar chart of the rows of each pair type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(counts_by_type_source)
    totals = [sum(counts_by_type_source[t].values()) for t in types]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(types) + 1.5))
    ax.barh(types, totals)
    ax.set_xlabel("rows")
    ax.set_title(f"{schema.NAME}: rows by pair type")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()

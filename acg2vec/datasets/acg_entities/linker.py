"""Link candidate records into entities: certain id links first, then Splink for the rest.

A numbered recipe (:func:`link`):

1. **Certain links.** A record's id fields that name another crawled record (a wiki page's language links, a
   Bangumi / MyAnimeList id) join the two for certain. A link that would put two records of one site (one wiki
   language, one season) into one entity contradicts itself: it is refused and dead-lettered
   (``id-link-conflict``), the records stay apart.
2. **Splink** (DuckDB locally), one trained model per kind (shipped in ``models/``), in the order works -> people -> characters, because a
   character is compared by the entities of its work and voice actor. Comparisons: the match keys of the
   Japanese, Chinese, English and romaji titles / names, any shared title or alias, and for works the year,
   medium and episode count. The models are trained once on a generated sample world (u from random pairs, m
   by expectation maximisation on blocks of equal keys, :func:`score_pairs`) and shipped, so a crawl of any
   size links alike (a small one has too few pairs to train on); only the prior is estimated per input.
   Predictions are made on blocks of equal keys.
3. **Clusters.** Predicted pairs at or above the kind's match-probability threshold are merged best first,
   after the certain links, refusing a merge that would put two records of one site (and season) into one
   entity: a site lists a work once per season, a character or person once.
4. **Entities**: anchored at the best-ranked source's record (:func:`schema.entity_id`), canonical titles by
   language, aliases, every source, and per record the evidence of its link.

The thresholds (:data:`THRESHOLDS`) were chosen on the sample world by ``benchmarks/entity_linking.py
--sweep`` (see docs/entities.md).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from acg2vec.datasets.acg_entities import schema
from acg2vec.datasets.acg_entities.candidates import Candidate, record_id
from acg2vec.datasets.acg_entities.schema import Entity, Evidence

log = logging.getLogger(__name__)

# Match probability at or above which Splink's pair joins two records, per kind (chosen by measurement).
THRESHOLDS = {"work": 0.8, "person": 0.8, "character": 0.8}
KEY_COLUMNS = ("ja_key", "zh_key", "en_key", "romaji_key")


@dataclass(slots=True)
class ScoredPair:
    left: str
    right: str
    probability: float
    weight: float
    agreed: list[str]


@dataclass(slots=True)
class LinkResult:
    entities: list[Entity]
    record_entity: dict[str, str]  # record id (kind:source:source_id) -> entity id
    pairs: dict[str, list[ScoredPair]]  # kind -> Splink's scored pairs (all above the lowest threshold)
    dead: list[tuple[str, str, dict]]  # (reason, detail, record)
    counts: dict[str, int] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)  # kind -> the Splink model used


class Clusters:
    """Union-find over unique ids that refuses merges putting two records of one site slot together."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.parent: dict[str, str] = {}
        self.slots: dict[str, set[tuple]] = {}
        for c in candidates:
            self.parent[c.unique_id] = c.unique_id
            self.slots[c.unique_id] = {slot(c)}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> bool | None:
        """Merge; True if merged, None if already together, False if refused (a site slot would repeat)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if self.slots[ra] & self.slots[rb]:
            return False
        if len(self.slots[ra]) < len(self.slots[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.slots[ra] |= self.slots.pop(rb)
        return True

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return out


def slot(c: Candidate) -> tuple:
    """What one site lists once: a work per (site, wiki language, season), a character or person per site."""
    lang = c.source_id.split(":", 1)[0] if c.source in ("wikipedia", "moegirl") else ""
    return (c.source, lang, c.season if c.kind == "work" else 0)


# -- 1. certain links -----------------------------------------------------------------------------------------


def certain_links(candidates: list[Candidate], clusters: Clusters) -> tuple[dict[str, list[str]], list]:
    """Apply every id link between crawled records; returns the links kept per record and the refused ones."""
    known = {c.unique_id for c in candidates}
    kept: dict[str, list[str]] = defaultdict(list)
    refused = []
    for c in candidates:
        for target, note in zip(c.links, c.link_notes, strict=True):
            if target not in known or target == c.unique_id:
                continue
            merged = clusters.union(c.unique_id, target)
            if merged is False:
                refused.append(("id-link-conflict", f"{c.unique_id} -> {target} ({note})", {"record": c.unique_id}))
            else:
                kept[c.unique_id].append(note)
                kept[target].append(f"{c.source}:{c.source_id}")
    return kept, refused


# -- 2. Splink ------------------------------------------------------------------------------------------------


def _frame(candidates: list[Candidate], related: dict[str, str]):
    import pandas as pd

    rows = []
    for c in candidates:
        rows.append(
            {
                "unique_id": c.unique_id,
                "source": c.source,
                **{k: getattr(c, k) for k in KEY_COLUMNS},
                "base_key": c.base_key,
                "keys": c.keys or None,
                "year": c.year,
                "medium": c.medium,
                "season": c.season,
                "episodes": c.episodes,
                "works": sorted({related[w] for w in c.work_ids if w in related}) or None,
                "voice_actors": sorted({related[p] for p in c.voice_actor_ids if p in related}) or None,
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("year", "season", "episodes"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _settings(kind: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [cl.ExactMatch(k).configure(term_frequency_adjustments=False) for k in KEY_COLUMNS]
    comparisons.append(cl.ArrayIntersectAtSizes("keys", [2, 1]))
    blocking = [block_on(k) for k in KEY_COLUMNS]
    if kind == "work":
        comparisons += [
            cl.CustomComparison(
                output_column_name="year",
                comparison_levels=[
                    {
                        "sql_condition": "year_l IS NULL OR year_r IS NULL",
                        "label_for_charts": "null",
                        "is_null_level": True,
                    },
                    {"sql_condition": "year_l = year_r", "label_for_charts": "same year"},
                    {"sql_condition": "abs(year_l - year_r) <= 1", "label_for_charts": "within a year"},
                    {"sql_condition": "ELSE", "label_for_charts": "else"},
                ],
            ),
            cl.ExactMatch("base_key"),  # the main title without a season marker
            cl.ExactMatch("medium"),
            cl.ExactMatch("episodes"),
        ]
        blocking.append(block_on("base_key"))
    else:
        comparisons.append(cl.ArrayIntersectAtSizes("works", [1]))
        if kind == "character":
            comparisons.append(cl.ArrayIntersectAtSizes("voice_actors", [1]))
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    ), blocking


def prior(candidates: list[Candidate], recall: float = 0.7) -> float:
    """The probability that two random records match: pairs with one Japanese key over all pairs, as if that
    rule found ``recall`` of the matches (Splink's direct estimate, made here so a tiny input with no such pair
    gets one pair's worth instead of zero)."""
    from collections import Counter

    sizes = Counter(c.ja_key for c in candidates if c.ja_key)
    same = sum(n * (n - 1) // 2 for n in sizes.values())
    total = len(candidates) * (len(candidates) - 1) // 2
    return min(0.5, max(same / recall, 1.0) / max(total, 1))


def score_pairs(
    kind: str, candidates: list[Candidate], related: dict[str, str], floor: float, model: dict | None = None
) -> tuple[list[ScoredPair], dict]:
    """Splink's pairs of ``candidates`` (one kind) with match probability >= ``floor``, and the model used.

    ``model``: a trained Splink model (:func:`load_model`); its prior is re-estimated for this input
    (:func:`prior`). None trains one on ``candidates``: u from random pairs, m by expectation maximisation on
    blocks of equal Japanese keys (trains every other comparison) then of equal romaji keys (trains the
    Japanese one); a block with no pairs is skipped (its comparisons keep Splink's defaults).
    """
    if len(candidates) < 2:
        return [], model or {}
    import duckdb
    from splink import DuckDBAPI, Linker, block_on
    from splink.internals.exceptions import EMTrainingException

    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    db = DuckDBAPI(connection)
    frame = _frame(candidates, related)
    if model is not None:
        settings = {**model, "probability_two_random_records_match": prior(candidates)}
        linker = Linker(db.register(frame), settings, log_level=logging.WARNING)
    else:
        settings, _ = _settings(kind)
        settings.probability_two_random_records_match = prior(candidates)
        linker = Linker(db.register(frame), settings, log_level=logging.WARNING)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
        for column in ("ja_key", "romaji_key"):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(column), estimate_without_term_frequencies=True
                )
            except EMTrainingException as err:
                log.info("acg_entities: %s EM on equal %s skipped: %s", kind, column, str(err).splitlines()[0])
        model = smooth(linker.misc.save_model_to_json())
        linker = Linker(db.register(frame), model, log_level=logging.WARNING)
    trained = linker.misc.save_model_to_json()
    predictions = linker.inference.predict(threshold_match_probability=floor).as_pandas_dataframe()
    # Splink 5 gives each comparison's part of the match weight as mw_<comparison>: > 0 means it agreed.
    names = [c for c in predictions.columns if c.startswith("mw_")]
    pairs = []
    for row in predictions.itertuples(index=False):
        values = row._asdict()
        agreed = [name[len("mw_") :] for name in names if values[name] is not None and values[name] > 0]
        pairs.append(
            ScoredPair(
                values["unique_id_l"], values["unique_id_r"], float(values["match_probability"]),
                float(values["match_weight"]), agreed,
            )
        )  # fmt: skip
    connection.close()
    return pairs, trained


MODELS_DIR = Path(__file__).with_name("models")
# No comparison level is impossible: a training world where the sites never disagree on a field would give
# its disagreement m = 0 (-inf bits), and one real disagreement would then outweigh every agreement.
M_FLOOR, U_FLOOR = 0.02, 1e-4


def smooth(model: dict) -> dict:
    """``model`` with every non-null level's m at least :data:`M_FLOOR` and u at least :data:`U_FLOOR`
    (each comparison's levels renormalised to sum to 1)."""
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for key, floor in (("m_probability", M_FLOOR), ("u_probability", U_FLOOR)):
            values = [max(lv.get(key) or 0.0, floor) for lv in levels]
            total = sum(values)
            for lv, value in zip(levels, values, strict=True):
                lv[key] = value / total
    return model


def load_model(kind: str) -> dict | None:
    """The shipped Splink model of ``kind`` (``models/<kind>.json``, trained on a generated sample world by
    ``benchmarks/entity_linking.py --train``), or None when there is none."""
    path = MODELS_DIR / f"{kind}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


# -- 3. clusters and 4. entities ------------------------------------------------------------------------------


def cluster(
    candidates: list[Candidate], pairs: list[ScoredPair], threshold: float
) -> tuple[Clusters, dict[str, list[str]], list, dict[str, ScoredPair]]:
    """Certain links, then Splink's pairs at or above ``threshold`` best first; returns the clusters, the id
    links kept per record, the refused id links, and per record the best pair that joined it."""
    clusters = Clusters(candidates)
    kept, refused = certain_links(candidates, clusters)
    best: dict[str, ScoredPair] = {}
    for pair in sorted(pairs, key=lambda p: (-p.weight, p.left, p.right)):
        if pair.probability < threshold:
            break
        if clusters.union(pair.left, pair.right) is not False:
            for record in (pair.left, pair.right):
                if record not in best or best[record].weight < pair.weight:
                    best[record] = pair
    return clusters, kept, refused, best


def _rank(c: Candidate) -> tuple:
    order = schema.SOURCES.index(c.source) if c.source in schema.SOURCES else len(schema.SOURCES)
    return (order, c.source_id)


def make_entities(
    kind: str,
    by_id: dict[str, Candidate],
    clusters: Clusters,
    kept: dict[str, list[str]],
    best: dict[str, ScoredPair],
    related: dict[str, str],
) -> list[Entity]:
    """One :class:`Entity` per cluster (see the module doc, step 4)."""
    entities = []
    for members in clusters.groups().values():
        records = sorted((by_id[m] for m in members), key=_rank)
        anchor = records[0]
        entity = Entity(schema.entity_id(kind, anchor.source, anchor.source_id), kind)
        seen: list[str] = []
        for record in records:
            for lang, title in record.titles.items():
                entity.titles.setdefault(lang, title)
                seen.append(title)
            seen.extend(record.aliases)
            entity.sources.append((record.source, record.source_id))
            entity.evidence.append(_evidence(record, anchor, kept, best))
        titles = set(entity.titles.values())
        entity.aliases = [a for a in dict.fromkeys(seen) if a not in titles]
        if kind == "character":
            entity.works = sorted({related[w] for r in records for w in r.work_ids if w in related})
            entity.voice_actors = sorted({related[p] for r in records for p in r.voice_actor_ids if p in related})
        entities.append(entity)
    return entities


def _evidence(record: Candidate, anchor: Candidate, kept: dict, best: dict[str, ScoredPair]) -> Evidence:
    if record is anchor:
        return Evidence(record.source, record.source_id, schema.SEED)
    if kept.get(record.unique_id):
        return Evidence(
            record.source, record.source_id, schema.ID_LINK, ids=list(dict.fromkeys(kept[record.unique_id]))
        )
    pair = best.get(record.unique_id)
    if pair is None:  # joined through another record's id link
        return Evidence(record.source, record.source_id, schema.ID_LINK)
    other = pair.right if pair.left == record.unique_id else pair.left
    return Evidence(
        record.source, record.source_id, schema.MATCH, round(pair.weight, 3), round(pair.probability, 6),
        pair.agreed, [], other,
    )  # fmt: skip


KIND_ORDER = ("work", "person", "character")


def link(
    candidates: list[Candidate],
    thresholds: dict[str, float] | None = None,
    *,
    floor: float | None = None,
    train: bool = False,
) -> LinkResult:
    """The whole recipe of the module doc over ``candidates`` (every kind); ``floor`` keeps Splink's pairs
    down to that probability in the result (for threshold sweeps), default the lowest threshold. ``train``:
    train the models on ``candidates`` instead of using the shipped ones (``LinkResult.models`` has them)."""
    thresholds = {**THRESHOLDS, **(thresholds or {})}
    floor = min(thresholds.values()) if floor is None else floor
    by_kind: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_kind[c.kind].append(c)
    related: dict[str, str] = {}  # unique id -> entity id, filled kind by kind
    result = LinkResult([], {}, {}, [])
    for kind in KIND_ORDER:
        members = by_kind.get(kind, [])
        log.info("acg_entities: linking %d %s records", len(members), kind)
        pairs, result.models[kind] = score_pairs(kind, members, related, floor, None if train else load_model(kind))
        result.pairs[kind] = pairs
        clusters, kept, refused, best = cluster(members, pairs, thresholds[kind])
        result.dead.extend(refused)
        entities = make_entities(kind, {c.unique_id: c for c in members}, clusters, kept, best, related)
        for entity in entities:
            for source, source_id in entity.sources:
                related[record_id(kind, source, source_id)] = entity.entity_id
        result.entities.extend(entities)
        result.counts[f"{kind}-records"] = len(members)
        result.counts[f"{kind}-entities"] = len(entities)
    result.record_entity = related
    return result

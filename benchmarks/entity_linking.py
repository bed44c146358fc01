"""Benchmark of the entity linker (acg2vec/datasets/acg_entities): quality against the sample world's truth,
time and peak memory at 100,000 records, and a check on the real captures in ../shared/fixtures/real/.

Every figure is printed beside a baseline run in the same process: the rule the text corpus used before
(records with one Japanese title key are one entity, else each record its own).

    .venv/bin/python benchmarks/entity_linking.py --train            # (re)train the shipped Splink models (world seed 1)
    .venv/bin/python benchmarks/entity_linking.py --sweep            # thresholds on a held-out world (seed 2)
    .venv/bin/python benchmarks/entity_linking.py --crawl DIR        # a real crawl of the demo world (seed 0)
    .venv/bin/python benchmarks/entity_linking.py --scale 100000     # time and memory
    .venv/bin/python benchmarks/entity_linking.py --real             # the real captures
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from acg2vec.crawlers.items import ItemError
from acg2vec.datasets.acg_entities import linker
from acg2vec.datasets.acg_entities.build import Collected, link_collected, link_raw
from acg2vec.datasets.acg_entities.candidates import CandidateError, from_item
from acg2vec.datasets.acg_entities.quality import link_quality
from acg2vec.datasets.acg_text_pairs.pair_extractors import ja_entity
from acg2vec.datasets.acg_text_pairs.records import split_of
from acg2vec.sample_site.crawl_records import crawl_items
from acg2vec.sample_site.world import WorldConfig, generate_world

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
KINDS = ("work", "person", "character")
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 0.999)


def collected_of(world) -> Collected:
    out = Collected()
    for item in crawl_items(world):
        try:
            candidate = from_item(item)
        except CandidateError as err:
            out.counts[err.reason] += 1
            continue
        if candidate is not None:
            out.candidates.append(candidate)
    return out


def truth_of(world, candidates) -> dict[str, str | None]:
    return {c.unique_id: world.identity(c.kind, c.source, c.source_id) for c in candidates}


def baseline(candidates) -> dict[str, str]:
    """The corpus's old rule (pair_extractors.ja_entity): one Japanese title key, one entity; else the record."""
    out = {}
    for c in candidates:
        ja = ja_entity(c.titles.get("ja"))
        out[c.unique_id] = f"{c.kind}:{ja}" if ja else c.unique_id
    return out


def quality(predicted: dict[str, str], truth: dict[str, str | None], candidates) -> dict:
    out = {}
    for kind in KINDS:
        ids = {c.unique_id for c in candidates if c.kind == kind}
        q = link_quality({r: predicted[r] for r in ids}, {r: truth[r] for r in ids})
        out[kind] = q.as_dict()
    true_splits: dict[str, set[str]] = {}
    for record, true in truth.items():
        if true is not None and record in predicted:
            true_splits.setdefault(true, set()).add(split_of(predicted[record]))
    out["true_entities_spanning_splits"] = sum(1 for s in true_splits.values() if len(s) > 1)
    return out


def show(name: str, result: dict) -> None:
    print(f"  {name}:")
    for kind in KINDS:
        q = result[kind]
        print(
            f"    {kind:9s} P {q['precision']:.4f} R {q['recall']:.4f}  records {q['records']:6d}  "
            f"entities {q['predicted_entities']:6d} (true {q['true_entities']})  "
            f"wrongly merged {q['wrongly_merged']}  wrongly split {q['wrongly_split']}"
        )
    print(f"    true entities spanning two splits of the text corpus: {result['true_entities_spanning_splits']}")


def evaluate_world(world, *, thresholds=None, train=False) -> tuple[dict, dict, float]:
    collected = collected_of(world)
    truth = truth_of(world, collected.candidates)
    started = time.time()
    linked = link_collected(collected, thresholds, train=train)
    seconds = time.time() - started
    return (
        quality(linked.record_entity, truth, collected.candidates),
        quality(baseline(collected.candidates), truth, collected.candidates),
        seconds,
    )


def train(out_dir: Path) -> None:
    world = generate_world(WorldConfig(seed=1, works=400, persons=150, posts=0))
    collected = collected_of(world)
    linked = link_collected(collected, train=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, model in linked.result.models.items():
        (out_dir / f"{kind}.json").write_text(json.dumps(model, indent=1, ensure_ascii=False) + "\n")
    print(f"trained on {len(collected.candidates)} records of world seed 1 -> {out_dir}")


def sweep() -> None:
    world = generate_world(WorldConfig(seed=2, works=300, persons=100, posts=0))
    print(f"threshold sweep on world seed 2 (300 works; load {os.getloadavg()[0]:.1f}):")
    for threshold in SWEEP:
        ours, base, seconds = evaluate_world(world, thresholds=dict.fromkeys(KINDS, threshold))
        print(f" match probability >= {threshold} ({seconds:.0f} s)")
        show("linker", ours)
    show("baseline (one Japanese title key, one entity)", base)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scale(records: int) -> None:
    works = max(50, records // 12)
    world = generate_world(WorldConfig(seed=3, works=works, persons=min(500, works // 4 + 20), posts=0))
    collected = collected_of(world)
    truth = truth_of(world, collected.candidates)
    print(f"{len(collected.candidates)} records from a world of {works} works (load {os.getloadavg()[0]:.1f})")
    started = time.time()
    base = baseline(collected.candidates)
    base_seconds = time.time() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_before = _cpu()
    started = time.time()
    linked = link_collected(collected)
    seconds = time.time() - started
    cpu = _cpu() - cpu_before  # all threads of this process (DuckDB's too): what the load cannot inflate
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  linker CPU time {cpu:.1f} s (user + system, all threads)")
    print(f"  linker: {seconds:.1f} s ({len(collected.candidates) / seconds:.0f} records/s), peak RSS {peak:.0f} MiB "
          f"(before linking {rss_before:.0f} MiB); baseline rule {base_seconds:.2f} s; ratio {seconds / max(base_seconds, 1e-3):.0f}x")  # fmt: skip
    show("linker", quality(linked.record_entity, truth, collected.candidates))
    show("baseline", quality(base, truth, collected.candidates))
    print(f"  load after: {os.getloadavg()[0]:.1f}")


def crawl(raw_root: str) -> None:
    world = generate_world(seed=0, posts=300)
    linked = link_raw(raw_root)
    candidates = [c for c in linked_candidates(raw_root)]
    truth = truth_of(world, candidates)
    print(f"a real crawl of the demo world: {len(candidates)} records; counts {dict(linked.counts)}")
    show("linker", quality(linked.record_entity, truth, candidates))
    show("baseline", quality(baseline(candidates), truth, candidates))


def linked_candidates(raw_root: str):
    from acg2vec.datasets.acg_entities.build import collect

    return collect(raw_root).candidates


def real() -> None:
    """Jikan and Bangumi captures against the zh.wikipedia season tables: which records link to which rows."""
    from acg2vec.crawlers.items import Work
    from acg2vec.crawlers.parsers.jikan import work_from_anime
    from acg2vec.crawlers.spiders.bangumi import work_from_subject

    if not REAL.exists():
        print(f"no real captures at {REAL}; skipped")
        return
    works: list[Work] = []
    for name in ("anime-success.json", "top-success.json", "search-success.json"):
        body = json.loads((REAL / "jikan" / name).read_text())["body"]
        body = json.loads(body) if isinstance(body, str) else body
        for data in body["data"] if isinstance(body["data"], list) else [body["data"]]:
            try:
                works.append(work_from_anime(data))
            except ItemError:
                continue
    subject = json.loads((REAL / "bangumi" / "v0_example_SubjectDetail.json").read_text())
    works.append(work_from_subject(subject, url=None))
    for line in (REAL / "anime_titles" / "zhwiki_season_lists_2009_2017.jsonl").read_text().splitlines():
        row = json.loads(line)
        if not row.get("作品名") or not row.get("原名"):
            continue
        year = row["_src"][:4]
        episodes = "".join(ch for ch in row.get("话数", "") if ch.isdigit())
        works.append(
            Work(source="wikipedia", source_id=f"zh:{row['作品名']} ({year})",
                 titles={"zh-Hans": row["作品名"], "ja": row["原名"]}, tags=[f"{year}年作品"], type="anime",
                 episodes=int(episodes) if episodes and len(episodes) < 5 else None)
        )  # fmt: skip
    collected = Collected(candidates=[c for w in works if (c := from_item(w)) is not None])
    linked = link_collected(collected)
    by_entity: dict[str, list[str]] = {}
    for c in collected.candidates:
        by_entity.setdefault(linked.record_entity[c.unique_id], []).append(c.unique_id)
    print(f"real captures: {len(collected.candidates)} records (Jikan, Bangumi, zh.wikipedia season rows)")
    for c in collected.candidates:
        if c.source in ("animelist", "bangumi"):
            others = [r for r in by_entity[linked.record_entity[c.unique_id]] if r != c.unique_id]
            print(f"  {c.unique_id:24s} {c.titles.get('ja', '')[:28]:30s} {c.year} -> {others[:3]}")
    print(f"  entities with two or more zh.wikipedia rows: "
          f"{sum(1 for v in by_entity.values() if sum(r.startswith('work:wikipedia') for r in v) > 1)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--crawl", metavar="RAW_DIR")
    parser.add_argument("--scale", type=int, default=0)
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--held-out", action="store_true", help="quality on world seed 2 at the shipped thresholds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.train:
        train(linker.MODELS_DIR)
    if args.sweep:
        sweep()
    if args.held_out:
        world = generate_world(WorldConfig(seed=2, works=300, persons=100, posts=0))
        ours, base, seconds = evaluate_world(world)
        print(f"held-out world seed 2, shipped thresholds {linker.THRESHOLDS} ({seconds:.0f} s):")
        show("linker", ours)
        show("baseline", base)
    if args.crawl:
        crawl(args.crawl)
    if args.scale:
        scale(args.scale)
    if args.real:
        real()
    sys.stdout.flush()


if __name__ == "__main__":
    main()

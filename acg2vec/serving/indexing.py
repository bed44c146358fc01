"""``acg2vec index``: the vector indexes and metadata ``acg2vec serve`` answers from, under ``<workdir>/index/``.

    index/images/   every post of acg_illustrations embedded by the image model: vectors.npy, ids.npy (post ids),
                    index.faiss + index_choice.json (chosen and tuned by the FAISS chooser), posts.parquet (tags,
                    rating, score, source URL, where its thumbnail sits) and thumbnails.bin (the dataset's JPEGs)
    index/works/    every title and alias of every work embedded by acgvoc2vec: one row per title (ids = row
                    numbers), titles.parquet (row -> work, text, language), works.parquet (one row per entity:
                    titles, aliases, sources). The works are the acg_entities table's (every site's titles of a
                    work under one id) where the workspace has one, else acg_text_pairs' entity_id groups.
    index/entities/ a copy of the acg_entities table (works, characters, people) for GET /v1/entities/{id}
    index/tags/     tags.parquet: the tagger's vocabulary and pixiv's Japanese tags, with their translations

Each folder carries ``meta.json`` (what was embedded with which model) so ``serve`` can tell a stale index.
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
import os
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.indexes.files import IDS_FILE
from acg2vec.integrity import CHECKSUMS_FILE, atomic_folder, atomic_write, atomic_write_json
from acg2vec.serving.entity_index import copy_entities, entities_table, link_works, table_stamp
from acg2vec.serving.stores.base import META_FILE, VECTORS_FILE, unit_rows

log = logging.getLogger(__name__)

IMAGES, WORKS, TAGS = "images", "works", "tags"
POSTS_FILE = "posts.parquet"
THUMBNAILS_FILE = "thumbnails.bin"
WORKS_FILE = "works.parquet"
TITLES_FILE = "titles.parquet"
TAGS_FILE = "tags.parquet"
ENTITIES = "entities"  # index/entities/: the acg_entities table as serve reads it
LANGS = ("ja", "zh", "en")


def fingerprint(model_path: str) -> str:
    """Name and modification time of a model folder: an index built with another model is stale."""
    try:
        mtime = max(os.path.getmtime(os.path.join(model_path, f)) for f in os.listdir(model_path))
    except (OSError, ValueError):
        mtime = 0.0
    return f"{os.path.basename(os.path.normpath(model_path))}@{mtime:.0f}"


def is_current(out_dir: str, model_path: str | None) -> bool:
    """True when ``out_dir`` holds a complete index built with ``model_path`` (any model when None); a
    ``meta.json`` that cannot be read is not current (:func:`acg2vec.serving.startup.check_folder` names it)."""
    path = os.path.join(out_dir, META_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and (model_path is None or meta.get("model_fingerprint") == fingerprint(model_path))


def write_vectors(
    out_dir: str, ids: np.ndarray, vectors: np.ndarray, meta: dict, *, memory_budget: int | None
) -> dict:
    """Into ``out_dir``, a folder being written (inside :func:`~acg2vec.integrity.atomic_folder`): the unit vectors
    (``vectors.npy``, kept so that ``serve`` can rebuild the search index from them), then
    :func:`write_search_index`."""
    os.makedirs(out_dir, exist_ok=True)
    unit = unit_rows(vectors)
    with atomic_write(os.path.join(out_dir, VECTORS_FILE)) as fh:
        np.save(fh, unit)
    return write_search_index(out_dir, ids, unit, meta, memory_budget=memory_budget)


def write_search_index(
    out_dir: str, ids: np.ndarray, unit: np.ndarray, meta: dict, *, memory_budget: int | None
) -> dict:
    """The ids, the FAISS index chosen for ``unit`` and ``meta.json`` (the vector count, dimension, factory, memory
    budget and what the vectors were embedded from) into ``out_dir``: what ``acg2vec index`` writes after
    embedding and what ``serve`` writes again from the kept vectors when the index file is damaged."""
    from acg2vec.indexes.files import write_index_files
    from acg2vec.indexes.index_choice import build_chosen_index

    index, chosen = build_chosen_index(unit, metric="ip", memory_budget=memory_budget, progress=False)
    built_from = {"vectors": VECTORS_FILE, "model": meta.get("model"), "dataset": meta.get("dataset")}
    write_index_files(out_dir, index, chosen, ids=np.asarray(ids, dtype=np.int64), built_from=built_from)
    meta = {**meta, "dim": int(unit.shape[1]), "count": int(len(unit)), "metric": "ip", "factory": chosen.factory}
    meta["memory_budget"] = memory_budget
    meta["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_json(os.path.join(out_dir, META_FILE), meta)
    return meta


def reindex_from_vectors(out_dir: str) -> dict:
    """Write ``out_dir``'s search index again from its kept vectors and ids (checked by the caller), with the
    memory budget it was built with; every other file is carried over (hard-linked where the file system allows).
    The folder is replaced only once whole."""
    from acg2vec.indexes.files import CHOICE_FILE, INDEX_FILE
    from acg2vec.serving.stores.base import read_meta

    meta = read_meta(out_dir)
    unit = np.load(os.path.join(out_dir, VECTORS_FILE), mmap_mode="r")
    ids = np.load(os.path.join(out_dir, IDS_FILE))
    derived = {INDEX_FILE, CHOICE_FILE, META_FILE, CHECKSUMS_FILE, IDS_FILE}
    with atomic_folder(out_dir) as tmp:
        for path in sorted(glob.glob(os.path.join(out_dir, "**", "*"), recursive=True)):
            rel = os.path.relpath(path, out_dir)
            if os.path.isfile(path) and rel not in derived:
                _link_or_copy(path, os.path.join(tmp, rel))
        return write_search_index(
            str(tmp),
            ids,
            np.ascontiguousarray(unit),
            {**_source_fields(meta), "checksums": CHECKSUMS_FILE},
            memory_budget=meta.get("memory_budget"),
        )


def _source_fields(meta: dict) -> dict:
    """What ``meta.json`` says about the source (model, dataset, counts), without what the index writer derives."""
    derived = ("dim", "count", "metric", "factory", "memory_budget", "built_at")
    return {key: value for key, value in meta.items() if key not in derived}


def _link_or_copy(src: str, dst: str) -> None:
    import shutil

    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- images ----------------------------------------------------------------------------------------------------


def source_urls(raw_root: str) -> dict[int, str]:
    """Post id -> its page on the site it was crawled from, from the raw post items (empty when none are kept)."""
    urls: dict[int, str] = {}
    for path in sorted(glob.glob(os.path.join(raw_root, "*", "post-*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                    urls.setdefault(int(item["id"]), item.get("url") or item.get("source_url"))
                except (ValueError, KeyError, TypeError):
                    continue  # the crawl's own dead letters account for malformed lines
    return {k: v for k, v in urls.items() if v}


def build_image_index(
    *,
    dataset_dir: str,
    model_path: str,
    out_dir: str,
    raw_root: str | None = None,
    batch_size: int = 32,
    memory_budget: int | None = None,
) -> dict:
    """Embed every post of every split of ``acg_illustrations`` and write ``index/images/``:

    1. open the dataset and the model (it must give image vectors);
    2. walk the posts once (a post kept in two splits is indexed once): its row of metadata, its JPEG appended to
       ``thumbnails.bin``, its vector embedded in batches (an image the model cannot read is dead-lettered);
    3. write ``posts.parquet``, then the vectors, the chosen index and ``meta.json`` (last).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from acg2vec.datasets.published import crc_checked, open_published
    from acg2vec.evaluation.image_data import resolve_dataset_dir
    from acg2vec.logs import progress_task
    from acg2vec.trainers.image.image_model import load_image_model

    # 1. The dataset and the model.
    folder = resolve_dataset_dir(dataset_dir)
    builder = open_published(folder)  # a damaged version is one sentence with its repair
    model = load_image_model(model_path)
    if not model.has_embedding:
        raise UserError(f"{model_path} gives no image vectors; index images with illust2vec or a tagger export.")
    urls = source_urls(raw_root) if raw_root else {}
    rating_names = builder.info.features["rating"].names
    # 2. Every post once: metadata, thumbnail, vector; into a temporary folder that replaces out_dir once whole.
    rows: dict[str, list] = defaultdict(list)
    total = sum(builder.info.splits[s].num_examples for s in builder.info.splits)
    with atomic_folder(out_dir) as tmp:
        with (
            DeadLetters(dead_letter_path(tmp, "index-images"), step="index-images", fresh=True) as dead,
            open(os.path.join(tmp, THUMBNAILS_FILE), "wb") as thumbs,
            progress_task("Embedding posts", total=total) as advance,
            crc_checked(folder),  # a shard whose CRC fails is named, with the examples it loses
        ):
            embedder = _Embedder(model, dead, batch_size)
            for split, example in _each_post_once(builder, advance):
                data = bytes(example["image"])
                row = _post_row(example, split, rating_names, urls)
                row.update(thumb_offset=thumbs.tell(), thumb_size=len(data))
                thumbs.write(data)
                for name, value in row.items():
                    rows[name].append(value)
                embedder.add(row["id"], data)
            embedder.flush()
        if not embedder.ids:  # the previous index stays; the reasons are counted here, as the dead letters had them
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dead.counts.items()))
            raise UserError(
                f"no post of {folder} could be embedded ({reasons or 'no posts'}); {out_dir} is unchanged."
            )
        # 3. The posts, then the vectors and their index.
        pq.write_table(pa.table(dict(rows)), os.path.join(tmp, POSTS_FILE))
        meta = {
            "kind": IMAGES,
            "model": model_path,
            "model_fingerprint": fingerprint(model_path),
            "dataset": folder,
            "posts": len(rows["id"]),
            "dropped": dict(dead.counts),
            "checksums": CHECKSUMS_FILE,  # atomic_folder records them as the folder is renamed into place
        }
        vectors = np.stack(embedder.vectors)
        meta = write_vectors(str(tmp), np.asarray(embedder.ids), vectors, meta, memory_budget=memory_budget)
    log.info("indexed %d of %d posts in %s (%s)", meta["count"], meta["posts"], out_dir, meta["factory"])
    return meta


def _each_post_once(builder, advance):
    """``(split, example)`` of every post of every split (images left encoded), the first time its id comes."""
    import tensorflow_datasets as tfds

    seen: set[int] = set()
    for split in sorted(builder.info.splits):
        ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
        for example in tfds.as_numpy(ds):
            advance(1)
            post_id = int(example["id"])
            if post_id not in seen:
                seen.add(post_id)
                yield split, example


def _post_row(example: dict, split: str, rating_names: list[str], urls: dict[int, str]) -> dict:
    """A post's row of ``posts.parquet`` (without where its thumbnail sits)."""
    post_id = int(example["id"])
    pixiv = int(example.get("pixiv_id", -1))
    row = {"id": post_id, "md5": example["md5"].decode()}
    for name in ("tags", "characters", "copyrights", "artists"):
        row[name] = [t.decode() for t in example.get(name, [])]
    row["rating"] = rating_names[int(example["rating"])]
    row["score"] = int(example["score"])
    row["pixiv_id"] = pixiv
    row["source_url"] = urls.get(post_id) or (f"https://www.pixiv.net/artworks/{pixiv}" if pixiv > 0 else None)
    row["split"] = split
    return row


class _Embedder:
    """Post images embedded ``batch_size`` at a time; the ids and vectors of those the model could read."""

    def __init__(self, model, dead: DeadLetters, batch_size: int) -> None:
        self.model, self.dead, self.batch_size = model, dead, batch_size
        self.ids: list[int] = []
        self.vectors: list[np.ndarray] = []
        self._pending_ids: list[int] = []
        self._pending: list[bytes] = []

    def add(self, post_id: int, data: bytes) -> None:
        self._pending_ids.append(post_id)
        self._pending.append(data)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        from acg2vec.evaluation.image_data import dead_letter_bad_images

        if not self._pending:
            return
        on_bad = dead_letter_bad_images(self.dead, self._pending, self._pending_ids)
        kept, mask = self.model.embed_robust(self._pending, on_bad, batch_size=len(self._pending))
        self.ids.extend(id_ for id_, ok in zip(self._pending_ids, mask, strict=True) if ok)
        self.vectors.extend(kept)
        self._pending_ids, self._pending = [], []


# -- works -----------------------------------------------------------------------------------------------------

# Pair types whose anchor is a work's title (in the anchor's language) and, for title pairs, whose positive is too.
TITLE_PAIRS = ("title_ja-title_zh", "title_ja-title_en")


@dataclass(slots=True)
class Work:
    entity_id: str
    titles: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    sources: set[str] = field(default_factory=set)

    def add(self, text: str, lang: str) -> None:
        text = text.strip()
        if text:
            self.titles[lang if lang in LANGS else "und"][text] += 1

    def record(self) -> dict:
        """The most frequent title per language; every other spelling is an alias; the sites its pairs came from
        (a pair names its site, not the site's id)."""
        main = {lang: counts.most_common(1)[0][0] for lang, counts in self.titles.items() if counts}
        aliases = sorted({t for counts in self.titles.values() for t in counts} - set(main.values()))
        sources = [{"source": source, "source_id": None} for source in sorted(self.sources)]
        return {"entity_id": self.entity_id, "kind": "work", "titles": main, "aliases": aliases, "sources": sources}


def read_works(datasets_root: str) -> list[dict]:
    """Works of every split of ``acg_text_pairs`` (Parquet): entity id, title per language, aliases, sources."""
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_text_pairs.readers import parquet_files
    from acg2vec.datasets.acg_text_pairs.schema import parquet_dir, title_pair_langs

    # Only a corpus whose build finished (build_metadata.json is written last).
    files = [path for paths in parquet_files(datasets_root).values() for path in paths]
    if not files:
        raise UserError(
            f"no Parquet files under {parquet_dir(datasets_root, '<split>')}; run `acg2vec build texts` first."
        )
    works: dict[str, Work] = {}
    for path in files:
        columns = ["anchor", "positive", "pair_type", "source", "entity_id", "anchor_lang", "positive_lang"]
        for row in pq.read_table(path, columns=columns).to_pylist():
            pair_type = row["pair_type"] or ""
            langs = title_pair_langs(pair_type)
            if langs is None or not row["entity_id"]:
                continue
            anchor_lang, positive_lang = langs
            work = works.setdefault(row["entity_id"], Work(row["entity_id"]))
            work.add(row["anchor"] or "", anchor_lang)
            if pair_type in TITLE_PAIRS:
                work.add(row["positive"] or "", positive_lang or row["positive_lang"] or "und")
            if row["source"]:
                work.sources.add(row["source"])
    return [works[key].record() for key in sorted(works)]


def works_are_current(out_dir: str, model_path: str, datasets_root: str) -> bool:
    """The works index was built with ``model_path`` and from the entities table the workspace has now (or
    without one, as the workspace is)."""
    from acg2vec.datasets.acg_entities import schema

    if not is_current(out_dir, model_path):
        return False
    with open(os.path.join(out_dir, META_FILE), encoding="utf-8") as fh:
        built_from = json.load(fh).get("entities_table_stamp")
    folder = schema.entities_dir(datasets_root)
    now = table_stamp(folder) if os.path.isfile(os.path.join(folder, schema.BUILD_METADATA)) else None
    return built_from == now


def build_works_index(
    *,
    datasets_root: str,
    model_path: str,
    out_dir: str,
    memory_budget: int | None = None,
    entities_dir: str | None = None,
) -> dict:
    """Embed every title and alias of every work and write ``index/works/`` (and ``index/entities/`` beside it,
    or ``entities_dir``, when the workspace has an entities table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from acg2vec.serving.models import TextModel

    table = entities_table(datasets_root)
    works = read_works(datasets_root)
    unlinked = 0
    if table is not None:
        works, unlinked = link_works(table, works)
    if not works:
        raise UserError(f"acg_text_pairs under {datasets_root} has no title pairs, so no work to index.")
    model = TextModel(model_path)
    titles: dict[str, list] = defaultdict(list)
    for work_row, work in enumerate(works):
        lang_of = {text: lang for lang, text in work["titles"].items()}
        for text in dict.fromkeys([*work["titles"].values(), *work["aliases"]]):
            titles["row"].append(len(titles["row"]))
            titles["work"].append(work_row)
            titles["text"].append(text)
            titles["lang"].append(lang_of.get(text, "alias"))
    vectors = model.encode(titles["text"]).vectors
    meta = {"kind": WORKS, "model": model_path, "model_fingerprint": fingerprint(model_path), "works": len(works)}
    meta["dataset"] = datasets_root
    meta["entities_table"] = table  # None: works grouped by the corpus's entity_id
    meta["entities_table_stamp"] = table_stamp(table)
    meta["unlinked_works"] = unlinked
    meta["checksums"] = CHECKSUMS_FILE
    with atomic_folder(out_dir) as tmp:
        pq.write_table(_works_table(works), os.path.join(tmp, WORKS_FILE))
        pq.write_table(pa.table(dict(titles)), os.path.join(tmp, TITLES_FILE))
        meta = write_vectors(str(tmp), np.asarray(titles["row"]), vectors, meta, memory_budget=memory_budget)
        # The entities copy is replaced just before the works index it belongs to.
        copy_entities(table, entities_dir or os.path.join(os.path.dirname(out_dir.rstrip("/")), ENTITIES))
    log.info("indexed %d titles of %d works in %s (%s)", meta["count"], len(works), out_dir, meta["factory"])
    return meta


def _works_table(works: list[dict]):
    import pyarrow as pa

    return pa.table(
        {
            "entity_id": [w["entity_id"] for w in works],
            "kind": [w["kind"] for w in works],
            "titles": [json.dumps(w["titles"], ensure_ascii=False) for w in works],
            "aliases": [w["aliases"] for w in works],
            "sources": [json.dumps(w["sources"], ensure_ascii=False) for w in works],
        }
    )


# -- tags ------------------------------------------------------------------------------------------------------


def tag_key(text: str) -> str:
    """What autocomplete compares: NFKC, casefolded, underscores as spaces (``hatsune_miku`` = ``Hatsune Miku``)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().replace("_", " ").split())


def read_tag_pairs(datasets_root: str) -> dict[str, Counter]:
    """pixiv's tag_ja -> Counter of its Chinese translations, from every split of acg_text_pairs."""
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_text_pairs.schema import SPLITS, parquet_dir

    pairs: dict[str, Counter] = defaultdict(Counter)
    for split in SPLITS:
        for path in sorted(glob.glob(os.path.join(parquet_dir(datasets_root, split), "*.parquet"))):
            table = pq.read_table(path, columns=["anchor", "positive", "pair_type"])
            for row in table.to_pylist():
                if row["pair_type"] == "tag_ja-tag_zh" and row["anchor"] and row["positive"]:
                    pairs[row["anchor"].strip()][row["positive"].strip()] += 1
    return pairs


def build_tags_table(
    *,
    out_dir: str,
    tagger=None,
    datasets_root: str | None = None,
    works: list[dict] | None = None,
    tag_titles: dict[str, dict[str, str]] | None = None,
) -> int:
    """``index/tags/tags.parquet``: one row per tag with its category, count, source and translations by language.

    Booru tags come from the tagger's vocabulary; a copyright or character tag the entities table links to a work
    or character (``tag_titles``, :func:`linked_tag_titles`), or whose words are a work's title, gets that entity's
    titles as translations (the Bangumi / Wikipedia / moegirl titles). pixiv's Japanese tags come with the Chinese
    translations of its tag pairs.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    title_of: dict[str, dict] = {tag_key(name): titles for name, titles in (tag_titles or {}).items()}
    for work in works or []:
        for text in [*work["titles"].values(), *work["aliases"]]:
            title_of.setdefault(tag_key(text), work["titles"])
    rows: dict[str, list] = defaultdict(list)

    def add(name: str, category: str, count: int, source: str, translations: dict[str, list[str]]) -> None:
        rows["name"].append(name)
        rows["key"].append(tag_key(name))
        rows["category"].append(category)
        rows["count"].append(int(count))
        rows["source"].append(source)
        rows["translations"].append(json.dumps(translations, ensure_ascii=False))

    if tagger is not None and tagger.has_tags:
        counts = tagger.tag_counts or [0] * len(tagger.tag_names)
        for name, category, count in zip(tagger.tag_names, tagger.tag_categories, counts, strict=True):
            titles = title_of.get(tag_key(name), {})
            translations = {lang: [t] for lang, t in titles.items() if tag_key(t) != tag_key(name)}
            add(name, category, count, "booru", translations)
    if datasets_root:
        try:
            pixiv = read_tag_pairs(datasets_root)
        except OSError:
            pixiv = {}
        for tag, zh in sorted(pixiv.items()):
            add(tag, "pixiv", sum(zh.values()), "pixiv", {"zh": [t for t, _ in zh.most_common()]})
    schema = {"name": [], "key": [], "category": [], "count": [], "source": [], "translations": []}
    meta = {"kind": TAGS, "count": len(rows["name"]), "model": getattr(tagger, "path", None)}
    meta["model_fingerprint"] = fingerprint(tagger.path) if tagger is not None else None
    meta["checksums"] = CHECKSUMS_FILE
    with atomic_folder(out_dir) as tmp:
        pq.write_table(pa.table(dict(rows) or schema), os.path.join(tmp, TAGS_FILE))
        atomic_write_json(os.path.join(tmp, META_FILE), meta)
    return len(rows["name"])

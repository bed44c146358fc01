"""Everything ``serve`` loads once: models, vector stores, metadata and the micro-batchers in front of the models.

:func:`build_missing` writes the index folders a workdir lacks (or holds for another model) before loading.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from acg2vec.errors import UserError
from acg2vec.evaluation.text_search import default_scorer
from acg2vec.imaging import MAX_PIXELS
from acg2vec.serving import entity_index, indexing
from acg2vec.serving.batching import MicroBatcher
from acg2vec.serving.catalog import Entities, Posts, Tags, Works
from acg2vec.serving.models import TEXT_MODEL, TextModel, find_image_model, is_sentence_transformer
from acg2vec.serving.startup import IndexPart, ensure
from acg2vec.serving.stores import VectorStore, open_store
from acg2vec.serving.threads import WAIT_POLICY
from acg2vec.serving.uploads import DEFAULT_MAX_BYTES
from acg2vec.serving.work_search import WorkSearch
from acg2vec.trainers.image.image_model import load_image_model
from acg2vec.trainers.image.models.registry import EMBEDDER_PREFERENCE, RATER_PREFERENCE, TAGGER_PREFERENCE
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ServeConfig:
    """What ``acg2vec serve`` serves and how (the command's options)."""

    workdir: str
    models_dir: str | None = None
    tagger: str | None = None  # a tagger folder other than the one found under models (index texts --tagger)
    vectors: str = "faiss"
    milvus_uri: str | None = None
    milvus_token: str | None = None
    batching: bool = True
    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_upload_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = MAX_PIXELS
    max_k: int = 100
    max_texts: int = 64
    api_key: str | None = None
    # Before loading: build missing or stale indexes and rebuild damaged ones (``serve --build``, its default);
    # without it a damaged index folder stops the load with its sentence.
    build: bool = False

    @property
    def workspace(self) -> Workspace:
        return Workspace.at(self.workdir)

    @property
    def models(self) -> str:
        return self.models_dir or self.workspace.models()

    def tagger_path(self) -> str | None:
        return self.tagger or find_image_model(self.models, TAGGER_PREFERENCE)

    def embedder_path(self) -> str | None:
        return find_image_model(self.models, EMBEDDER_PREFERENCE)

    def text_path(self) -> str | None:
        path = os.path.join(self.models, TEXT_MODEL)
        return path if is_sentence_transformer(path) else None


def index_parts(config: ServeConfig) -> list[IndexPart]:
    """The folders of ``index/`` serve keeps (image index, work index with its entities copy, tag list), each with
    the call that builds it from its source: the same functions ``acg2vec index images|texts`` run."""
    ws = config.workspace
    images_dir, works_dir, tags_dir = (ws.index(name) for name in (indexing.IMAGES, indexing.WORKS, indexing.TAGS))
    embedder, text, tagger = config.embedder_path(), config.text_path(), config.tagger_path()
    image_data = os.path.join(ws.datasets(), "acg_illustrations")
    has_pairs = os.path.isdir(os.path.join(ws.datasets(), "parquet"))

    def build_images() -> None:
        indexing.build_image_index(dataset_dir=image_data, model_path=embedder, out_dir=images_dir, raw_root=ws.raw())

    def build_works() -> None:
        indexing.build_works_index(
            datasets_root=ws.datasets(), model_path=text, out_dir=works_dir, entities_dir=ws.index(indexing.ENTITIES)
        )

    images = IndexPart(
        indexing.IMAGES, images_dir, "image index",
        build=build_images if embedder and os.path.isdir(image_data) else None,
        current=lambda: indexing.is_current(images_dir, embedder),
        source=f"{image_data} embedded by {embedder}",
        missing_source=f"no image model under {config.models}" if not embedder else f"no dataset at {image_data}",
    )  # fmt: skip
    works = IndexPart(
        indexing.WORKS, works_dir, "work index",
        build=build_works if text and has_pairs else None,
        current=lambda: indexing.works_are_current(works_dir, text, ws.datasets()),
        source=f"acg_text_pairs embedded by {text}",
        missing_source=f"no acgvoc2vec model under {config.models}" if not text else "no acg_text_pairs corpus",
    )  # fmt: skip
    entities = IndexPart(
        indexing.ENTITIES, ws.index(indexing.ENTITIES), "entities table copy",
        build=works.build, current=lambda: True, source=works.source, missing_source=works.missing_source,
        vectors=False,
    )  # fmt: skip
    tags = IndexPart(
        indexing.TAGS, tags_dir, "tag list",
        build=(lambda: build_tags(config)) if tagger or has_pairs else None,
        current=lambda: indexing.is_current(tags_dir, tagger),
        source="the tagger's vocabulary and acg_text_pairs",
        missing_source="no tagger and no acg_text_pairs corpus",
        vectors=False,
    )  # fmt: skip
    return [images, works, entities, tags]


def build_missing(config: ServeConfig, *, say=None, rebuild: bool = True, starting=None) -> list[str]:
    """Check every index folder, rebuild a damaged one (saying so with ``say``, the log by default) and build one
    that is missing or was built with another model (``starting`` is told before each, see
    :func:`~acg2vec.serving.startup.ensure`); returns what was written. A damage that cannot be repaired
    (or any, without ``rebuild``) raises :class:`~acg2vec.integrity.DamagedFileError`."""
    say = say or (lambda line: log.warning("%s", line))
    built = []
    for part in index_parts(config):
        if ensure(part, say=say, rebuild=rebuild, starting=starting) and part.name not in built:
            built.append(part.name)
    return built


def build_tags(config: ServeConfig, *, tagger=None) -> int:
    """Write ``index/tags/``: the tagger's vocabulary (``tagger``, else the config's) and the corpus's tags."""
    datasets = config.workspace.datasets()
    path = config.tagger_path()
    if tagger is None and path:
        tagger = load_image_model(path)
    works = None
    if os.path.isdir(os.path.join(datasets, "parquet")):
        try:
            works = indexing.read_works(datasets)
        except UserError:
            works = None
    table = entity_index.entities_table(datasets, warn=False)  # the works index says it once when there is none
    return indexing.build_tags_table(
        out_dir=config.workspace.index(indexing.TAGS),
        tagger=tagger,
        datasets_root=datasets,
        works=works,
        tag_titles=entity_index.linked_tag_titles(table) if table else None,
    )


@dataclass(frozen=True, slots=True)
class WorkQuery:
    """A work search sent to the text batcher: encoded with the batch's other texts, then searched with its other
    queries."""

    text: str
    k: int
    scorer: str | None = None


@dataclass
class Services:
    config: ServeConfig
    tagger: object | None = None
    rater: object | None = None
    embedder: object | None = None
    text: TextModel | None = None
    image_store: VectorStore | None = None
    posts: Posts | None = None
    work_store: VectorStore | None = None
    works: Works | None = None
    work_search: WorkSearch | None = None
    entities: Entities | None = None
    tags: Tags | None = None
    missing: list[str] = field(default_factory=list)

    # -- the batched model calls ------------------------------------------------------------------------------

    def _tag_batch(self, images: list[bytes]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        probs = self.tagger.tag_probabilities(images)
        ratings = self.rater.rating(images) if self.rater is not None else [None] * len(images)
        return list(zip(probs, ratings, strict=True))

    def _embed_batch(self, images: list[bytes]) -> list[np.ndarray]:
        return list(self.embedder.embed(images))

    def _text_batch(self, items: list[str | WorkQuery]) -> list[tuple]:
        """Texts -> ``(vector, truncated)``; work searches -> ``(vector, truncated, works)``. Both kinds share one
        encoder call, and the searches of a batch are scored together, in this same worker thread (no second
        hand-off per request)."""
        texts = [item.text if isinstance(item, WorkQuery) else item for item in items]
        encoded = self.text.encode(texts)
        out: list[tuple] = list(zip(encoded.vectors, encoded.truncated, strict=True))
        searches = [i for i, item in enumerate(items) if isinstance(item, WorkQuery)]
        if searches:
            found = self.work_search.search_many(
                [texts[i] for i in searches],
                encoded.vectors[searches],
                ks=[items[i].k for i in searches],
                scorers=[items[i].scorer for i in searches],
            )
            for i, works in zip(searches, found, strict=True):
                out[i] = (*out[i], works)
        return out

    def make_batchers(self, on_batch=None) -> dict[str, MicroBatcher]:
        """One micro-batcher per loaded model (tags, embed, text); each app owns and closes its own."""
        cfg = self.config
        kwargs = {"max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms, "enabled": cfg.batching}
        batchers = {}
        for name, fn, needed in (
            ("tags", self._tag_batch, self.tagger),
            ("embed", self._embed_batch, self.embedder),
            ("text", self._text_batch, self.text),
        ):
            if needed is not None:
                batchers[name] = MicroBatcher(name, fn, on_batch=on_batch, **kwargs)
        return batchers

    def close(self) -> None:
        for store in (self.image_store, self.work_store):
            if store is not None:
                store.close()

    def status(self) -> dict:
        return {
            "tagger": getattr(self.tagger, "path", None),
            "rater": getattr(self.rater, "path", None),
            "embedder": getattr(self.embedder, "path", None),
            "text_model": getattr(self.text, "path", None),
            "vectors": self.config.vectors,
            "images": None
            if self.image_store is None
            else {"count": self.image_store.count, "dim": self.image_store.dim},
            "works": None if self.works is None else {"count": len(self.works), "titles": self.work_store.count},
            "entities": None
            if self.entities is None
            else {"count": len(self.entities), "table": self.entities.table is not None},
            "tags": None if self.tags is None else len(self.tags),
            "scorers": list(self.work_search.scorers) if self.work_search else [],
            "batching": {
                "enabled": self.config.batching,
                "max_batch": self.config.max_batch,
                "max_wait_ms": self.config.max_wait_ms,
            },  # fmt: skip
            # How the models' OpenMP threads wait between batches (``acg2vec serve`` prefers PASSIVE).
            "omp_wait_policy": os.environ.get(WAIT_POLICY),
            "missing": self.missing,
        }


def load_services(config: ServeConfig, *, milvus_client=None) -> Services:
    """Load what the workdir has; what it lacks is listed in ``missing`` (its endpoints answer 503)."""
    services = Services(config)
    store_kwargs = {"milvus_uri": config.milvus_uri}
    if config.vectors == "milvus":
        store_kwargs["token"] = config.milvus_token
        if milvus_client is not None:
            store_kwargs["client"] = milvus_client
    path = config.tagger_path()
    if path:
        services.tagger = load_image_model(path)
        if not services.tagger.has_tags:
            services.missing.append(f"{path} has no tag outputs, so /v1/tags is off.")
            services.tagger = None
    else:
        services.missing.append(f"no tagger under {config.models}, so /v1/tags is off.")
    if services.tagger is not None and services.tagger.has_rating:
        services.rater = services.tagger
    else:
        rater = find_image_model(config.models, RATER_PREFERENCE)
        if rater:
            model = load_image_model(rater)
            services.rater = model if model.has_rating else None
    path = config.embedder_path()
    if path:
        same = services.tagger is not None and os.path.samefile(path, services.tagger.path)
        services.embedder = services.tagger if same else load_image_model(path)
    else:
        services.missing.append(f"no image embedder under {config.models}, so /v1/illust2vec and /v1/similar are off.")
    images_dir = config.workspace.index(indexing.IMAGES)
    if os.path.isfile(os.path.join(images_dir, "meta.json")):
        services.image_store = open_store(images_dir, backend=config.vectors, **store_kwargs)
        services.posts = Posts(images_dir)
    else:
        services.missing.append(f"no image index at {images_dir}; run `acg2vec index images`.")
    path = config.text_path()
    if path:
        services.text = TextModel(path)
    else:
        services.missing.append(f"no acgvoc2vec model under {config.models}, so /v1/text and /v1/works are off.")
    works_dir = config.workspace.index(indexing.WORKS)
    if os.path.isfile(os.path.join(works_dir, "meta.json")):
        services.work_store = open_store(works_dir, backend=config.vectors, **store_kwargs)
        services.works = Works(works_dir)
        services.work_search = WorkSearch(
            services.work_store, services.works, default=default_scorer(config.text_path())
        )
    else:
        services.missing.append(f"no work index at {works_dir}; run `acg2vec index texts`.")
    services.entities = Entities.load(config.workspace.index(indexing.ENTITIES), services.works)
    tags_dir = config.workspace.index(indexing.TAGS)
    if os.path.isfile(os.path.join(tags_dir, indexing.TAGS_FILE)):
        services.tags = Tags.load(tags_dir)
    else:
        services.missing.append(f"no tag list at {tags_dir}; run `acg2vec index texts`.")
    for line in services.missing:
        log.warning("%s", line)
    return services

"""What the app holds while it runs (:class:`ServingState`, on ``app.state.serving``) and the dependencies routes
take it through: ``Depends(needs("tagger"))`` answers 503 with one sentence until the tagger is there."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from fastapi import Request

from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError
from acg2vec.serving.batching import MicroBatcher
from acg2vec.serving.metrics import Metrics
from acg2vec.serving.services import ServeConfig, Services, build_missing, index_parts, load_services
from acg2vec.serving.startup import part_of, repair
from acg2vec.serving.uploads import BadInput

log = logging.getLogger(__name__)

# The Services fields a route may need, as /readyz and the 503 sentences name them.
PARTS = {
    "tagger": "tagger",
    "embedder": "image embedder",
    "image_store": "image index",
    "text": "acgvoc2vec model",
    "work_search": "work index",
    "entities": "entities table or work index",
    "tags": "tag list",
}


LOADING = "still loading its models and indexes"


@dataclass
class ServingState:
    """The config, the loaded services (None while loading or after a failed load) and their batchers.

    While loading, ``phase`` says what the server is doing (checking, rebuilding a damaged index, loading), as
    /readyz and the 503 sentences tell it. A failed load is ``fatal`` (its sentence in ``error``): ``on_fatal``
    (``acg2vec serve`` stops the server with it, then exits non-zero with the sentence) is called, so a supervisor
    restarts or alerts instead of a server answering 503 for ever.
    """

    config: ServeConfig
    metrics: Metrics = field(default_factory=Metrics)
    milvus_client: object | None = None
    services: Services | None = None
    batchers: dict[str, MicroBatcher] = field(default_factory=dict)
    loading: bool = False
    error: str | None = None
    owned: bool = False  # services loaded here (closed at shutdown); services handed in belong to the caller
    phase: str = LOADING
    rebuilding: bool = False
    fatal: BaseException | None = None
    on_fatal: Callable[[], None] | None = None
    say: Callable[[str], None] | None = None  # where the sentences of what was rebuilt go (the log by default)
    _categories: dict[int, tuple[object, np.ndarray]] = field(default_factory=dict)
    _repaired: list[str] = field(default_factory=list)

    def serve(self, services: Services, *, owned: bool) -> None:
        self.batchers = services.make_batchers(on_batch=self.metrics.observe_batch)
        self.services, self.owned = services, owned

    def load(self) -> None:
        """Check the index folders (repairing or building them with ``config.build``), then load the services; in a
        background thread, /healthz answering meanwhile. A failure is fatal: kept for /readyz, said in the log, and
        ``on_fatal`` called."""
        try:
            self.phase = f"{LOADING} (checking the index folders)"
            self._repaired = []
            built = build_missing(self.config, say=self._say, rebuild=self.config.build, starting=self._starting)
            built = [name for name in built if name not in self._repaired]  # a repair said its own sentence
            if built:
                self._say(f"built the {', '.join(built)} index(es) under {self.config.workspace.index()}")
            self.rebuilding, self.phase = False, LOADING
            self.serve(self._load_services(), owned=True)
        except Exception as err:  # noqa: BLE001 -- said once, then the server stops (serve exits non-zero)
            if isinstance(err, UserError):
                log.error("%s", err)
            else:
                log.exception("loading the models and indexes failed")
            self.error, self.fatal = str(err), err
            if self.on_fatal is not None:
                self.on_fatal()
        finally:
            self.loading = self.rebuilding = False

    def _load_services(self) -> Services:
        """:func:`load_services`; an index file found damaged only as it loads (its vector count) is repaired once."""
        try:
            return load_services(self.config, milvus_client=self.milvus_client)
        except DamagedFileError as err:
            parts = index_parts(self.config)
            part = part_of(err.path, parts)
            if part is None or not self.config.build:
                raise
            self._starting(part, f"rebuilding its {part.what} ({err.path} is damaged)", True)
            repair(part, err, say=self._say)
            self.rebuilding, self.phase = False, LOADING
            return load_services(self.config, milvus_client=self.milvus_client)

    def _starting(self, part, phase: str, repairing: bool) -> None:
        self.phase, self.rebuilding = phase, repairing
        if repairing:
            self._repaired.append(part.name)

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)
        else:
            log.warning("%s", line)

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()
        if self.owned and self.services is not None:
            self.services.close()

    def require(self, *parts: str) -> Services:
        """The services, with each of ``parts`` loaded; else a 503 sentence saying what is missing."""
        current = self.services
        if current is None:
            if self.error:
                raise BadInput(503, f"The server failed to load its models and indexes and is stopping: {self.error}")
            raise BadInput(503, f"The server is {self.phase}; retry in a few seconds.")
        for part in parts:
            if getattr(current, part) is None:
                raise BadInput(503, f"This server has no {PARTS[part]}; see /readyz for what is missing.")
        return current

    def tag_categories(self, model) -> np.ndarray:
        """The model's tag categories as one array, built once per model (kept beside it, so its id stays its own)."""
        cached = self._categories.get(id(model))
        if cached is None or cached[0] is not model:
            cached = self._categories[id(model)] = (model, np.asarray(model.tag_categories, dtype=object))
        return cached[1]


def serving_state(request: Request) -> ServingState:
    """The app's :class:`ServingState` (a FastAPI dependency)."""
    return request.app.state.serving


def needs(*parts: str) -> Callable[[Request], Services]:
    """A FastAPI dependency: the loaded services with ``parts`` present (503 with one sentence otherwise)."""
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"unknown service part {part!r}")

    def loaded_services(request: Request) -> Services:
        return serving_state(request).require(*parts)

    return loaded_services

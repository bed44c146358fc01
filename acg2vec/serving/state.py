"""What the app holds while it runs (:class:`ServingState`, on ``app.state.serving``) and the dependencies routes
take it through: ``Depends(needs("tagger"))`` answers 503 with one sentence until the tagger is there."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from fastapi import Request

from acg2vec.serving.batching import MicroBatcher
from acg2vec.serving.metrics import Metrics
from acg2vec.serving.services import ServeConfig, Services, load_services
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


@dataclass
class ServingState:
    """The config, the loaded services (None while loading or after a failed load) and their batchers."""

    config: ServeConfig
    metrics: Metrics = field(default_factory=Metrics)
    milvus_client: object | None = None
    services: Services | None = None
    batchers: dict[str, MicroBatcher] = field(default_factory=dict)
    loading: bool = False
    error: str | None = None
    owned: bool = False  # services loaded here (closed at shutdown); services handed in belong to the caller
    _categories: dict[int, tuple[object, np.ndarray]] = field(default_factory=dict)

    def serve(self, services: Services, *, owned: bool) -> None:
        self.batchers = services.make_batchers(on_batch=self.metrics.observe_batch)
        self.services, self.owned = services, owned

    def load(self) -> None:
        """Load the services (in a background thread: /healthz answers meanwhile); a failure is kept for /readyz."""
        try:
            self.serve(load_services(self.config, milvus_client=self.milvus_client), owned=True)
        except Exception as err:  # noqa: BLE001 -- reported by /readyz and the log, the server stays up
            log.exception("loading the models and indexes failed")
            self.error = str(err)
        finally:
            self.loading = False

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
                raise BadInput(503, f"The server failed to load its models: {self.error}")
            raise BadInput(503, "The server is still loading its models and indexes; retry in a few seconds.")
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

"""The REST app: JSON under ``/v1``, OpenAPI at ``/docs``, the search page at ``/``, health and metrics.

Every client mistake is a 4xx JSON ``{"detail": "<one sentence>"}``; the models run behind micro-batchers; the
server never fetches a URL a client sends (images come as bytes: multipart, base64 in JSON, or a raw body).
The routes live in ``serving/routes/`` (one APIRouter per area) and reach the loaded models through
:class:`~acg2vec.serving.state.ServingState` and its dependencies; request parsing is ``serving/requests.py``.
"""

from __future__ import annotations

import contextlib
import threading
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from acg2vec import __version__
from acg2vec.serving.guard import Guard
from acg2vec.serving.requests import show_limits, validation_sentence
from acg2vec.serving.routes import health, images, texts
from acg2vec.serving.services import ServeConfig, Services
from acg2vec.serving.state import ServingState
from acg2vec.serving.uploads import BadInput

API_KEY_SCHEME = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}


def create_app(config: ServeConfig, *, services: Services | None = None, milvus_client=None) -> Guard:
    """The ASGI app for ``config`` (the FastAPI app inside :class:`Guard`, reachable as ``.fastapi``); with
    ``services`` given it serves them, else it loads them in a background thread while /healthz already answers."""
    state = ServingState(config, milvus_client=milvus_client, loading=services is None)
    if services is not None:
        state.serve(services, owned=False)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if state.loading:
            threading.Thread(target=state.load, name="acg2vec-load", daemon=True).start()
        yield
        state.close()

    app = FastAPI(
        title="acg2vec",
        version=__version__,
        summary="Tags, illust2vec vectors, similar illustrations, acgvoc2vec vectors, work and tag search.",
        lifespan=lifespan,
    )
    app.state.serving = state

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_sentence(exc)}, status_code=422)

    static_dir = resources.files("acg2vec.serving") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static_dir / "index.html"), media_type="text/html")

    for area in (health, images, texts):
        app.include_router(area.router)

    def openapi() -> dict:
        """FastAPI's schema with this server's ``--max-k``, and with an API key the docs page's "Authorize"."""
        if app.openapi_schema is None:
            schema = show_limits(FastAPI.openapi(app), config.max_k)
            if config.api_key:
                schema.setdefault("components", {})["securitySchemes"] = API_KEY_SCHEME
                schema["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    guard = Guard(app, metrics=state.metrics, max_body=config.max_upload_bytes, api_key=config.api_key)
    guard.fastapi = app
    return guard

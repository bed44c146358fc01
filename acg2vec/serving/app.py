"""The REST app: JSON under ``/v1``, OpenAPI at ``/docs``, the search page at ``/``, health and metrics.

Every client mistake is a 4xx JSON ``{"detail": "<one sentence>"}``; the models run behind micro-batchers; the
server never fetches a URL a client sends (images come as bytes: multipart, base64 in JSON, or a raw body).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
from importlib import resources

import numpy as np
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from acg2vec import __version__
from acg2vec.serving.guard import Guard
from acg2vec.serving.metrics import Metrics
from acg2vec.serving.services import ServeConfig, Services, WorkQuery, load_services
from acg2vec.serving.uploads import BadInput, PreparedImage, decode_upload, open_upload
from acg2vec.vocabularies import RATINGS

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "application/octet-stream")
MAX_TEXT_CHARS = 100_000
MAX_TOP_K_TAGS = 1_000
MAX_JSON_DEPTH_CHARS = 1_000  # only for error excerpts

IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"image_base64": {"type": "string", "description": "The image file, base64."}},
                    "required": ["image_base64"],
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
TEXT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "texts": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        },
    }
}


def _ctype(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request) -> dict:
    if _ctype(request) != "application/json":
        raise BadInput(415, f"Content type {_ctype(request) or '(none)'} is not accepted here; send application/json.")
    body = await request.body()
    try:
        payload = json.loads(body)
    except UnicodeDecodeError:
        raise BadInput(400, "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as err:
        raise BadInput(
            400, f"The request body is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})."
        ) from None
    if not isinstance(payload, dict):
        raise BadInput(400, 'The JSON body must be an object, e.g. {"text": "..."}.')
    return payload


async def read_image(request: Request, max_pixels: int) -> PreparedImage:
    """The uploaded image from multipart field ``file``, JSON ``image_base64`` or a raw image body."""
    ctype = _ctype(request)
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=16)
        except StarletteHTTPException as err:
            raise BadInput(400, f"The multipart body is malformed: {err.detail}") from None
        upload = form.get("file") or form.get("image")
        if not isinstance(upload, UploadFile):
            raise BadInput(400, "The form has no file; send the image in the multipart field 'file'.")
        data = await upload.read()
    elif ctype == "application/json":
        payload = await read_json(request)
        if any(key in payload for key in ("url", "image_url")):
            raise BadInput(
                400, "acg2vec never fetches URLs; send the image itself (multipart 'file' or image_base64)."
            )
        encoded = payload.get("image_base64")
        if not isinstance(encoded, str):
            raise BadInput(400, "The JSON body needs the image as a base64 string in 'image_base64'.")
        if encoded.startswith("data:") and "," in encoded:
            encoded = encoded.split(",", 1)[1]
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(400, "'image_base64' is not valid base64.") from None
    elif ctype in IMAGE_TYPES:
        data = await request.body()
    else:
        raise BadInput(
            415,
            f"Content type {ctype or '(none)'} is not accepted here; send multipart/form-data with a 'file' field, "
            "application/json with 'image_base64', or the image bytes with an image/* type.",
        )
    opened = open_upload(data, max_pixels=max_pixels)  # the header only: cheap, and refuses bombs up front
    if opened.decodes_quickly:
        return decode_upload(opened, max_pixels=max_pixels)
    return await asyncio.to_thread(decode_upload, opened, max_pixels=max_pixels)


def select_tags(
    probs: np.ndarray,
    *,
    cut: float | np.ndarray | None,
    categories: np.ndarray,
    wanted: list[str] | None,
    top_k: int | None,
) -> np.ndarray:
    """Indices of the tags to answer, best first: of the ``wanted`` categories (all when none), scoring at
    least ``cut`` (a threshold or one per tag; None keeps every tag), at most ``top_k``. Vectorised, since real
    taggers have ten thousand tags and this runs on the event loop for every request."""
    keep = np.isin(categories, wanted) if wanted else np.ones(len(probs), bool)
    if cut is not None:
        keep &= probs >= cut
    index = np.flatnonzero(keep)
    index = index[np.argsort(-probs[index], kind="stable")]
    return index[:top_k] if top_k else index


def _validation_sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is invalid."
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    where = loc[0] if loc else "request"
    name = loc[-1] if len(loc) > 1 else where
    message = str(first.get("msg", "is invalid")).rstrip(".")
    place = {"query": "Query parameter", "path": "Path parameter", "header": "Header"}.get(where, "Field")
    return f"{place} '{name}': {message[0].lower() + message[1:]}."


def create_app(config: ServeConfig, *, services: Services | None = None, milvus_client=None) -> Guard:
    """The ASGI app for ``config`` (the FastAPI app inside :class:`Guard`, reachable as ``.fastapi``); with
    ``services`` given it serves them, else it loads them in a background thread while /healthz already answers."""
    metrics = Metrics()
    state = {"services": services, "error": None, "loading": services is None, "batchers": {}}
    if services is not None:
        state["batchers"] = services.make_batchers(on_batch=metrics.observe_batch)

    owned: list[Services] = []
    category_arrays: dict[int, tuple[object, np.ndarray]] = {}

    def tag_categories(model) -> np.ndarray:
        """The model's tag categories as one array, built once per model (kept beside it, so its id stays its own)."""
        cached = category_arrays.get(id(model))
        if cached is None or cached[0] is not model:
            cached = category_arrays[id(model)] = (model, np.asarray(model.tag_categories, dtype=object))
        return cached[1]

    def load() -> None:
        try:
            loaded = load_services(config, milvus_client=milvus_client)
            state["batchers"] = loaded.make_batchers(on_batch=metrics.observe_batch)
            state["services"] = loaded
            owned.append(loaded)
        except Exception as err:  # noqa: BLE001 -- reported by /readyz and the log, the server stays up
            log.exception("loading the models and indexes failed")
            state["error"] = str(err)
        finally:
            state["loading"] = False

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if state["services"] is None and state["loading"]:
            threading.Thread(target=load, name="acg2vec-load", daemon=True).start()
        yield
        for batcher in state["batchers"].values():
            batcher.close()
        for loaded in owned:  # services handed in belong to the caller
            loaded.close()

    app = FastAPI(
        title="acg2vec",
        version=__version__,
        summary="Tags, illust2vec vectors, similar illustrations, acgvoc2vec vectors, work and tag search.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.serving = state

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_sentence(exc)}, status_code=422)

    def need(*parts: str) -> Services:
        current = state["services"]
        if current is None:
            if state["error"]:
                raise BadInput(503, f"The server failed to load its models: {state['error']}")
            raise BadInput(503, "The server is still loading its models and indexes; retry in a few seconds.")
        for part in parts:
            if getattr(current, part) is None:
                what = {"tagger": "tagger", "embedder": "image embedder", "image_store": "image index",
                        "text": "acgvoc2vec model", "work_search": "work index", "tags": "tag list"}[part]  # fmt: skip
                raise BadInput(503, f"This server has no {what}; see /readyz for what is missing.")
        return current

    static_dir = resources.files("acg2vec.serving") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static_dir / "index.html"), media_type="text/html")

    @app.get("/healthz", tags=["health"], summary="The process answers.")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Models and indexes loaded (503 while loading).")
    async def readyz() -> JSONResponse:
        current = state["services"]
        if current is None:
            status = "failed" if state["error"] else "loading"
            return JSONResponse({"status": status, "error": state["error"]}, status_code=503)
        return JSONResponse({"status": "ready", **current.status()})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics: requests, latencies, batch sizes.")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- images --------------------------------------------------------------------------------------------

    @app.post("/v1/tags", tags=["images"], summary="Tags of an uploaded image", openapi_extra=IMAGE_BODY)
    async def tags(
        request: Request,
        threshold: float | None = Query(None, ge=0.0, le=1.0, description="Keep tags scoring at least this."),
        top_k: int | None = Query(None, ge=1, le=MAX_TOP_K_TAGS, description="Keep the K best tags."),
        category: list[str] | None = Query(None, description="Only these categories (general, character, ...)."),
    ) -> dict:
        """Tags above the model's tuned thresholds (or ``threshold``), or the ``top_k`` best; the rating where a
        model has a rating head."""
        current = need("tagger")
        image = await read_image(request, config.max_pixels)
        probs, rating = await state["batchers"]["tags"].submit(image.data)
        model = current.tagger
        tuned = model.tag_thresholds() if threshold is None else threshold
        cut = None if top_k and threshold is None else tuned  # top_k alone: the K best, whatever they score
        chosen = select_tags(probs, cut=cut, categories=tag_categories(model), wanted=category, top_k=top_k)
        names, cats = model.tag_names, model.tag_categories
        found = [
            {"name": names[j], "category": cats[j], "score": round(score, 6)}
            for j, score in zip(chosen.tolist(), probs[chosen].astype(np.float64).tolist(), strict=True)
        ]
        by_category: dict[str, list[str]] = {}
        for tag in found:
            by_category.setdefault(tag["category"], []).append(tag["name"])
        rated = None
        if rating is not None:
            names = current.rater.rating_names
            scores = {name: round(float(s), 6) for name, s in zip(names, rating, strict=True)}
            rated = {"model": current.rater.name, "label": max(scores, key=scores.get), "scores": scores}
        return {
            "model": model.name,
            "selection": "top_k"
            if top_k and threshold is None
            else ("threshold" if threshold is not None else "tuned"),
            "tags": found,
            "categories": by_category,
            "rating": rated,
            "image": image.describe(),
        }

    @app.post(
        "/v1/illust2vec", tags=["images"], summary="illust2vec feature of an uploaded image", openapi_extra=IMAGE_BODY
    )
    async def illust2vec(request: Request) -> dict:
        current = need("embedder")
        image = await read_image(request, config.max_pixels)
        vector = await state["batchers"]["embed"].submit(image.data)
        return {"model": current.embedder.name, "dim": int(len(vector)), "vector": np.asarray(vector, np.float32).tolist(),
                "image": image.describe()}  # fmt: skip

    def k_param(default: int = 10):
        return Query(default, ge=1, le=config.max_k, description=f"Number of results (1 to {config.max_k}).")

    def similar_filters(rating: list[str] | None, tag: list[str] | None):
        bad = sorted(set(rating or []) - set(RATINGS))
        if bad:
            raise BadInput(422, f"Unknown rating {bad[0]!r}; use one of {', '.join(RATINGS)}.")
        return set(rating or []), {t.strip() for t in tag or [] if t.strip()}

    def similar_answer(current: Services, vector, k: int, ratings, required, exclude=None) -> dict:
        keep = current.posts.keep(ratings=ratings, required_tags=required)
        hits = current.image_store.search(np.asarray(vector)[None, :], k, keep=keep, exclude=exclude)[0]
        results = [{**current.posts.get(h.id), "score": round(h.score, 6)} for h in hits if current.posts.get(h.id)]
        return {
            "k": k,
            "filters": {"rating": sorted(ratings), "tags": sorted(required)},
            "backend": current.image_store.backend,
            "results": results,
        }

    @app.post(
        "/v1/similar", tags=["images"], summary="Illustrations similar to an uploaded image", openapi_extra=IMAGE_BODY
    )
    async def similar_upload(
        request: Request,
        k: int = k_param(),
        rating: list[str] | None = Query(None, description="Keep only these ratings."),
        tag: list[str] | None = Query(None, description="Keep only posts with all these tags."),
    ) -> dict:
        current = need("embedder", "image_store")
        ratings, required = similar_filters(rating, tag)
        image = await read_image(request, config.max_pixels)
        vector = await state["batchers"]["embed"].submit(image.data)
        answer = await asyncio.to_thread(similar_answer, current, vector, k, ratings, required)
        return {**answer, "image": image.describe()}

    def post_or_404(current: Services, post_id: int) -> dict:
        post = current.posts.get(post_id)
        if post is None:
            raise BadInput(404, f"No post with id {post_id} in the index.")
        return post

    @app.get("/v1/posts/{post_id}", tags=["images"], summary="A post by id")
    async def post(post_id: int = Path(..., description="Post id on its booru.")) -> dict:
        return post_or_404(need("image_store"), post_id)

    @app.get("/v1/posts/{post_id}/thumbnail", tags=["images"], summary="A post's image (JPEG, from the dataset)")
    async def thumbnail(post_id: int) -> Response:
        current = need("image_store")
        post_or_404(current, post_id)
        return Response(current.posts.thumbnail(post_id), media_type="image/jpeg",
                        headers={"cache-control": "public, max-age=86400"})  # fmt: skip

    @app.get("/v1/posts/{post_id}/similar", tags=["images"], summary="Illustrations similar to a post")
    async def similar_post(
        post_id: int,
        k: int = k_param(),
        rating: list[str] | None = Query(None, description="Keep only these ratings."),
        tag: list[str] | None = Query(None, description="Keep only posts with all these tags."),
    ) -> dict:
        current = need("image_store")
        ratings, required = similar_filters(rating, tag)
        post_or_404(current, post_id)
        vector = await asyncio.to_thread(current.image_store.vector, post_id)
        if vector is None:
            raise BadInput(404, f"Post {post_id} has no vector in the index (its image could not be embedded).")
        answer = await asyncio.to_thread(similar_answer, current, vector, k, ratings, required, {post_id})
        return {"post_id": post_id, **answer}

    # -- texts ---------------------------------------------------------------------------------------------

    def check_text(text, where: str) -> str:
        if not isinstance(text, str):
            raise BadInput(422, f"{where} must be a string.")
        if not text.strip():
            raise BadInput(422, f"{where} is empty; send at least one non-space character.")
        if len(text) > MAX_TEXT_CHARS:
            raise BadInput(413, f"{where} has {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,}.")
        return text

    def truncation_notice(current: Services, where: str) -> str:
        return f"{where} is longer than {current.text.max_tokens} tokens; acgvoc2vec read only the first {current.text.max_tokens}."

    @app.post(
        "/v1/text/embed", tags=["texts"], summary="acgvoc2vec feature of a text or a batch", openapi_extra=TEXT_BODY
    )
    async def text_embed(request: Request) -> dict:
        current = need("text")
        payload = await read_json(request)
        if "texts" in payload:
            texts = payload["texts"]
            if not isinstance(texts, list) or not texts:
                raise BadInput(422, "'texts' must be a non-empty list of strings.")
            if len(texts) > config.max_texts:
                raise BadInput(
                    413, f"'texts' has {len(texts)} items, over the limit of {config.max_texts} per request."
                )
            texts = [check_text(t, f"Text {i + 1} of 'texts'") for i, t in enumerate(texts)]
        elif "text" in payload:
            texts = [check_text(payload["text"], "'text'")]
        else:
            raise BadInput(422, "The JSON body needs 'text' (a string) or 'texts' (a list of strings).")
        encoded = await asyncio.gather(*(state["batchers"]["text"].submit(t) for t in texts))
        notices = [
            truncation_notice(current, "'text'" if "text" in payload and "texts" not in payload else f"Text {i + 1}")
            for i, (_, cut) in enumerate(encoded)
            if cut
        ]
        vectors = [np.asarray(vector, np.float32).tolist() for vector, _ in encoded]
        answer = {
            "model": current.text.name,
            "dim": current.text.dim,
            "vectors": vectors,
            "truncated": [bool(cut) for _, cut in encoded],
            "notices": notices,
        }
        if "texts" not in payload:
            answer["vector"] = vectors[0]
        return answer

    @app.get("/v1/works/search", tags=["texts"], summary="Works matching a text in any language")
    async def works_search(
        q: str = Query(..., description="A title or any text about a work, in Japanese, Chinese or English."),
        k: int = k_param(),
        scorer: str | None = Query(None, description="hybrid (default), dense or lexical."),
    ) -> dict:
        current = need("text", "work_search")
        check_text(q, "The query 'q'")
        search = current.work_search
        if scorer is not None and scorer not in search.scorers:
            raise BadInput(422, f"Unknown scorer {scorer!r}; this server has {', '.join(search.scorers)}.")
        _, cut, results = await state["batchers"]["text"].submit(WorkQuery(q, k, scorer))
        return {
            "query": q,
            "scorer": scorer or search.default,
            "backend": current.work_store.backend,
            "results": results,
            "notices": [truncation_notice(current, "The query")] if cut else [],
        }

    @app.get("/v1/tags/complete", tags=["texts"], summary="Tags starting with a prefix, with translations")
    async def tag_complete(
        prefix: str = Query(..., min_length=1, max_length=200, description="Start of a tag in any language."),
        limit: int = Query(10, ge=1, le=config.max_k, description=f"Number of tags (1 to {config.max_k})."),
    ) -> dict:
        current = need("tags")
        return {"prefix": prefix, "results": current.tags.complete(prefix, limit=limit)}

    if config.api_key:
        # The docs page lets its user enter the key ("Authorize") and sends it with every "Try it out".
        def openapi() -> dict:
            if app.openapi_schema is None:
                schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
                schema.setdefault("components", {})["securitySchemes"] = {
                    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
                }
                schema["security"] = [{"ApiKey": []}]
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi
    guard = Guard(app, metrics=metrics, max_body=config.max_upload_bytes, api_key=config.api_key)
    guard.fastapi = app
    return guard

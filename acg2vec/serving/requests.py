"""Reading a request: JSON bodies, uploaded images, texts and result counts, each refused with one sentence
(:class:`~acg2vec.serving.uploads.BadInput`), and the OpenAPI bodies of the routes that read them by hand."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from acg2vec.serving.uploads import BadInput, PreparedImage, decode_upload, open_upload

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "application/octet-stream")
MAX_TEXT_CHARS = 100_000

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


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request) -> dict:
    if content_type(request) != "application/json":
        raise BadInput(
            415, f"Content type {content_type(request) or '(none)'} is not accepted here; send application/json."
        )
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
    ctype = content_type(request)
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


def validation_sentence(exc: RequestValidationError) -> str:
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


def check_text(text, where: str) -> str:
    """``text`` if it is a non-empty string within :data:`MAX_TEXT_CHARS`; ``where`` names it in the sentence."""
    if not isinstance(text, str):
        raise BadInput(422, f"{where} must be a string.")
    if not text.strip():
        raise BadInput(422, f"{where} is empty; send at least one non-space character.")
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput(413, f"{where} has {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,}.")
    return text


# Query parameters bounded by the server's --max-k: name -> what they count. Their schema maximum is set per app.
LIMITED = {"k": "Number of results", "limit": "Number of tags"}


def limit_query(name: str):
    """The query parameter ``name`` of :data:`LIMITED`: at least 1, 10 by default; :func:`at_most` checks the top."""
    return Query(10, ge=1, description=f"{LIMITED[name]} (1 to --max-k).")


def at_most(config, name: str, value: int) -> int:
    """``value`` if within ``config.max_k``, else the sentence FastAPI's own validation would give."""
    if value > config.max_k:
        raise BadInput(422, f"Query parameter '{name}': input should be less than or equal to {config.max_k}.")
    return value


def show_limits(schema: dict, max_k: int) -> dict:
    """The OpenAPI ``schema`` with the server's ``max_k`` as the maximum of every :data:`LIMITED` parameter."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param.get("in") == "query" and param["name"] in LIMITED:
                    param["description"] = f"{LIMITED[param['name']]} (1 to {max_k})."
                    param["schema"].update(maximum=max_k, description=param["description"])
    return schema

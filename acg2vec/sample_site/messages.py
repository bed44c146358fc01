"""The request and response records the sample site's per-site handlers work with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Request:
    """A GET request, as one site sees it: ``path`` is relative to the site's prefix."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    base_url: str  # scheme://host:port/prefix of the site, for absolute URLs in answers

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    def int_arg(self, name: str, default: int) -> int:
        """An integer parameter; a missing or malformed one counts as ``default``, as PHP sites treat it."""
        value = self.query.get(name)
        try:
            return int(value) if value not in (None, "") else default
        except ValueError:
            return default


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, *, status: int = 200, escape_slashes: bool = False, ascii: bool = False) -> Response:
    """JSON as the sites send it; ``escape_slashes`` writes ``/`` as ``\\/`` as PHP's json_encode does."""
    text = json.dumps(data, ensure_ascii=ascii, separators=(",", ":"))
    if escape_slashes:
        text = text.replace("/", "\\/")
    return Response(status=status, body=text.encode("utf-8"))


def text_response(text: str, *, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status=status, body=text.encode("utf-8"), content_type=content_type)


def not_found(message: str = "Not Found") -> Response:
    return text_response(f"404 {message}\n", status=404)

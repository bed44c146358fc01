"""A plain HTTP client for the sample-site tests: status, headers and body, error statuses included."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers (lower-case names) and body, for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def get_json(url: str) -> dict:
    status, _, body = fetch(url)
    assert status == 200, (url, status, body[:200])
    return json.loads(body)


def dapi_url(site, **params: object) -> str:
    """The sample site's Safebooru ``dapi`` post listing with ``params`` as its query."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{site.url_for('safebooru')}/index.php?page=dapi&s=post&q=index&{query}"

"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from acg2vec.sample_site import start_sample_site
from tests.sample_site.client import dapi_url, fetch


@pytest.mark.integration
def test_server_api_and_index(sample_site):
    assert sample_site.base_url.startswith("http://127.0.0.1:")
    assert sample_site.url_for("safebooru") == sample_site.base_url + "/safebooru"
    assert sample_site.url_for("jikan").endswith("/jikan/v4")
    with pytest.raises(ValueError, match="unknown site"):
        sample_site.url_for("nowhere")
    status, headers, body = fetch(sample_site.base_url + "/")
    assert status == 200 and b"sample site" in body
    status, _, body = fetch(sample_site.base_url + "/robots.txt")
    assert status == 200 and b"User-agent: *" in body and b"Disallow: /private/" in body
    assert fetch(sample_site.base_url + "/nowhere")[0] == 404


@pytest.mark.integration
def test_start_and_stop_twice_on_free_ports():
    with start_sample_site(posts=20) as one, start_sample_site(posts=20) as two:
        assert one.port != two.port
        assert fetch(one.url_for("safebooru") + "/robots.txt")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(one.base_url + "/robots.txt", timeout=2)


@pytest.mark.integration
def test_requests_and_user_agents_are_recorded(sample_site):
    fetch(sample_site.url_for("bangumi") + "/v0/subjects/100000", headers={"User-Agent": "acg2vec-test/1 (tests)"})
    fetch(dapi_url(sample_site, json=1, limit=1))
    assert sample_site.requests == {"bangumi": 1, "safebooru": 1}
    assert sample_site.user_agents["bangumi"] == {"acg2vec-test/1 (tests)": 1}

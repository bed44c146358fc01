"""The search page in a real browser: Debian's Chromium driven by Playwright against a running server.

Screenshots go to ``$ACG2VEC_TEST_ARTIFACTS`` (CI collects it) or the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture
from tests.serving.server import running
from tests.system_packages import find

pytestmark = [pytest.mark.integration, pytest.mark.system_package("chromium")]

CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ACG2VEC_TEST_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page_url(served_workdir):  # noqa: F811
    from acg2vec.serving.app import create_app
    from acg2vec.serving.services import ServeConfig, load_services

    config = ServeConfig(workdir=str(served_workdir))
    with running(create_app(config, services=load_services(config))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=find("chromium"), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, page_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_url + "/")
    yield page
    page.close()
    # Nothing comes from a CDN: every request the page made went to the server that served it.
    assert requested and all(url.startswith(page_url) or url.startswith("blob:") for url in requested), requested


def test_upload_an_image_shows_tags_and_similar_illustrations(page, tmp_path, artifacts):
    image = tmp_path / "red.jpg"
    image.write_bytes(jpeg_bytes(colour_image("red", 77)))
    page.set_input_files("#image-input", str(image))
    page.wait_for_selector("#tags li[data-tag='red']")
    page.wait_for_selector("#similar figure.hit img")
    tags = page.locator("#tags li").evaluate_all("items => items.map(li => li.dataset.tag)")
    assert set(tags) == {"red", "sample_series"}
    hits = page.locator("#similar figure.hit")
    assert hits.count() == 12
    # The thumbnails are the dataset's JPEGs, loaded and decoded by the browser; the nearest are red posts 1-4.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#similar img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    first = [int(hits.nth(i).get_attribute("data-post")) for i in range(4)]
    assert sorted(first) == [1, 2, 3, 4]
    assert "12 similar illustrations" in page.text_content("#image-status")
    page.screenshot(path=str(artifacts / "page-image-search.png"), full_page=True)
    # A click on a result searches around that post.
    hits.nth(0).click()
    page.wait_for_function("() => document.querySelector('#image-status').textContent.includes('similar to post')")


def test_search_a_title_shows_the_work_in_three_languages(page, artifacts):
    page.fill("#work-query", "钢之炼金术师")
    page.click("#work-form button")
    page.wait_for_selector("#works li.work")
    first = page.locator("#works li.work").first
    assert first.get_attribute("data-entity") == "bangumi:2"
    text = first.text_content()
    for title in ("鋼の錬金術師", "钢之炼金术师", "Fullmetal Alchemist"):
        assert title in text
    # Every alias and the sites the work came from, and its entity id linking to /v1/entities/{id}.
    assert first.locator(".aliases").text_content() == "also ハガレン"
    assert first.locator(".sources").text_content() == "from animelist, bangumi, wikipedia"
    assert first.locator(".meta a").get_attribute("href") == "/v1/entities/bangumi:2"
    page.screenshot(path=str(artifacts / "page-work-search.png"), full_page=True)


def test_tag_autocomplete_and_errors_shown(page, artifacts):
    page.fill("#tag-prefix", "初音")
    page.wait_for_selector("#tag-suggestions li[data-tag='初音ミク']")
    assert "初音未来" in page.text_content("#tag-suggestions")
    page.set_input_files("#image-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}])
    page.wait_for_selector("#image-status.error")
    assert "not an image" in page.text_content("#image-status")
    page.screenshot(path=str(artifacts / "page-tags-and-error.png"), full_page=True)
    assert (artifacts / "page-image-search.png").stat().st_size > 10_000

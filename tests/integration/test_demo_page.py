"""The demo page in a real headless Chromium against a real TorchServe.

Debian's ``chromium`` (``make test`` installs it with apt-get), driven by
Playwright for Python; no browser is downloaded. The page is served by
ai_detector.apps.demo at the one origin the server's CORS settings allow (the ``cam_server``
fixture), exactly as ``make demo`` serves it from config.properties.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from ai_detector.apps.demo import addresses, start_page_server
from ai_detector.serving.torchserve import free_port
from tests.conftest import encode_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set to write the README's screenshot (docs/demo.png) from this run.
SCREENSHOT_ENV = "AI_DETECTOR_DEMO_SCREENSHOT"


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            "the demo test needs Debian's chromium, which `make test` installs (make browser)"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def page_url(cam_server) -> Iterator[str]:
    server, origin = cam_server
    page_server = start_page_server(urlsplit(origin).port or 0)
    try:
        yield f"{origin}/?api={server.inference_url}"
    finally:
        page_server.shutdown()
        page_server.server_close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    image = Image.new("RGB", (400, 300), (128, 128, 128))
    image.paste((250, 40, 40), (150, 40, 330, 220))
    photo, pdf = tmp_path / "photo.png", tmp_path / "document.pdf"
    photo.write_bytes(encode_image(image, "PNG"))
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    return {"photo": photo, "pdf": pdf}


def test_upload_shows_label_bars_heatmap_and_version(browser_context, page_url, files, tmp_path):
    page = browser_context.new_page()
    page.goto(page_url)
    page.set_input_files("#file", str(files["photo"]))
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert page.text_content("#label") == "AI-generated"
    assert page.text_content("#version") == "tiny-test-1"
    assert page.locator("#probabilities li").count() == 3
    assert page.get_attribute("#heat", "src").startswith("data:image/png;base64,")
    width = page.evaluate("document.getElementById('confidence-bar').style.width")
    assert width == page.text_content("#confidence-text")
    # The slider works from the keyboard and sets the heatmap's opacity.
    page.focus("#opacity")
    page.keyboard.press("Home")
    assert page.evaluate("getComputedStyle(document.getElementById('heat')).opacity") == "0"
    page.keyboard.press("End")
    assert page.evaluate("getComputedStyle(document.getElementById('heat')).opacity") == "1"
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
    if SCREENSHOT_ENV in os.environ:
        page.screenshot(path=str(ROOT / "docs" / "demo.png"), full_page=True)
    page.close()


def test_a_pdf_gets_the_services_error_message(browser_context, page_url, files):
    page = browser_context.new_page()
    page.goto(page_url)
    page.set_input_files("#file", str(files["pdf"]))
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "not an image in a supported format" in page.text_content("#status")
    assert page.is_hidden("#result")
    page.close()


def test_a_service_that_is_not_running_is_named(browser_context, page_url, files):
    page = browser_context.new_page()
    page.goto(page_url.split("?")[0] + f"?api=http://127.0.0.1:{free_port()}")
    page.set_input_files("#file", str(files["photo"]))
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "is not answering" in page.text_content("#status")
    page.close()


def test_phone_width_and_keyboard(browser_context, page_url, files):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(page_url)
    # The file chooser is the first thing Tab reaches.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    page.set_input_files("#file", str(files["photo"]))
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    photo_box = page.locator("#photo").bounding_box()
    heat_box = page.locator("#heat").bounding_box()
    assert photo_box["width"] <= 375 and heat_box == pytest.approx(photo_box, abs=1)
    page.close()


def test_make_demo_serves_at_the_origin_config_properties_allows():
    port, api = addresses(ROOT / "config.properties")
    assert (port, api) == (8090, "http://127.0.0.1:8080")
    with pytest.raises(ValueError, match="cors_allowed_origin"):
        addresses(ROOT / "src" / "ai_detector" / "serving" / "model-config.yaml")

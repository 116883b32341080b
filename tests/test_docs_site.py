"""The documentation site builds with --strict, and renders in Chromium.

`python -m mkdocs build --strict` (what CI runs) into a temporary directory: no warning, so no
broken link, missing page or unresolved API reference. The built site is served from 127.0.0.1 and
tests/js/site.js opens its home page (the navigation, the search box, a search that finds
`create_model`), the API reference (rendered signatures) and the detection page (the picture
`sensenet detect --draw` drew while the site was built), in the browser test's setup
(tests/test_browser.py: Debian's Chromium through playwright-core). Screenshots are kept in
test-artifacts/docs/.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.conftest import REPO_ROOT, fixture_path
from tests.test_browser import CHROMIUM, JS_DIR, QuietHandler, _require_tools

ARTIFACTS = REPO_ROOT / "test-artifacts" / "docs"
BUILD_TIMEOUT_S = 300
BROWSER_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    fixture_path("detection/cats_eye_tinyyolov4.zip")  # the detection picture is drawn from it
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    built = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert built.returncode == 0, built.stderr[-5000:]
    assert "WARNING" not in built.stderr, built.stderr
    return site


def test_the_site_holds_every_page_and_the_api_reference(built_site):
    for page in [
        "index.html",
        "getting-started/index.html",
        "serving/index.html",
        "reference/doors/index.html",
    ]:
        assert (built_site / page).is_file(), page
    reference = (built_site / "reference" / "doors" / "index.html").read_text()
    assert "create_model" in reference and "doc-signature" in reference
    assert (built_site / "pictures" / "detection.jpg").stat().st_size > 10_000


@pytest.fixture(scope="module")
def rendered(built_site, tmp_path_factory):
    node = _require_tools()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "home": ("/", "create_model"),
        "reference": ("/reference/doors/", None),
        "detection": ("/detection/", None),
    }
    work = tmp_path_factory.mktemp("site-browser")
    jobs = [
        {"url": base + path, "screenshot": str(ARTIFACTS / f"{name}.png"), "search": search}
        for name, (path, search) in pages.items()
    ]
    request = {"chromium": str(CHROMIUM), "profile": str(work / "profile"), "pages": jobs}
    (work / "jobs.json").write_text(json.dumps(request))
    try:
        completed = subprocess.run(
            [node, str(JS_DIR / "site.js"), str(work / "jobs.json")],
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT_S,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert completed.returncode == 0, completed.stderr[-3000:]
    print(f"\ndocumentation screenshots: {ARTIFACTS}")
    return dict(zip(pages, json.loads(completed.stdout)))


def test_the_home_page_renders_with_navigation_and_a_working_search(rendered):
    home = rendered["home"]
    assert home["errors"] == [] and home["title"].startswith("Sense/Net")
    assert home["searchBox"]
    assert {"Getting started", "Python API", "Command line", "Entry points"} <= {
        n.strip() for n in home["navigation"]
    }
    assert any("create_model" in result for result in home["searchResults"]), home["searchResults"]
    assert (ARTIFACTS / "home.png").stat().st_size > 0


def test_the_api_reference_renders_signatures(rendered):
    reference = rendered["reference"]
    assert reference["errors"] == []
    signatures = " ".join(reference["signatures"])
    assert "create_model(" in signatures and "settings" in signatures, reference["signatures"]


def test_the_detection_page_shows_the_drawn_picture(rendered):
    (picture,) = [image for image in rendered["detection"]["images"] if "detection.jpg" in image["src"]]
    assert picture["width"] == 512  # the photo's own width: loaded and decoded, not a broken link

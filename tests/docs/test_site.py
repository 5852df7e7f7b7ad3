"""The documentation site builds with `mkdocs build --strict` and works in a real browser.

* The strict build (warnings are errors; mkdocs.yml's `validation:` turns broken and absolute links,
  missing anchors, nav entries without a file and pages left out of the nav into warnings, and
  mkdocstrings/autorefs warn on unresolved references) succeeds, and a copy of the docs with one of
  each mistake fails, naming them.
* The built site, served on 127.0.0.1 by `http.server`, is opened in headless Chromium from Debian's
  packages (`/usr/bin/chromium`, driven by Playwright's Python API over the DevTools protocol; no
  browser download). The home page, guides and a reference page load with no console error, no
  uncaught page error, no failed or non-local request, and every <img> decoded (naturalWidth > 0);
  the results page must show at least one image.

Without Chromium (or Playwright) the browser test is skipped locally and fails on CI (env CI).
Install it with `apt-get install -y chromium`.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

from tests.docs import _markdown as md

ROOT = md.ROOT
CHROMIUM = os.environ.get("FUNCNET_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

# Pages opened in the browser, and how many images each must at least show.
PAGES = {
    "index.html": 0,
    "getting-started.html": 0,
    "results.html": 1,
    "reference/layers.html": 0,
}


def mkdocs_build(config: pathlib.Path, site_dir: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site_dir)],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = mkdocs_build(ROOT / "mkdocs.yml", site_dir)
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed (exit {result.returncode}):\n{result.stderr[-6000:]}",
                    pytrace=False)
    return site_dir


def test_site_builds_strict(site):
    for page in ["index.html", *PAGES, "reference/models.html", "search/search_index.json"]:
        assert (site / page).is_file(), page
    # Every page image comes from docs/img/ and is in the site.
    assert list((site / "img").glob("*.png"))
    # Docstring examples render as code: a `>>>` outside an `Examples:` section would become a
    # triple blockquote.
    quoted = [p.name for p in (site / "reference").glob("*.html")
              if "<blockquote>\n<blockquote>\n<blockquote>" in p.read_text(encoding="utf-8")]
    assert not quoted, f"doctest prompts rendered as blockquotes (use an `Examples:` section) in {quoted}"


def test_strict_build_fails_on_broken_links_and_references(tmp_path):
    # The same config and package beside a copy of docs/ with one of each mistake on the home page.
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "funcnet").symlink_to(ROOT / "funcnet", target_is_directory=True)
    docs = tmp_path / "docs"
    shutil.copytree(md.DOCS, docs)
    with (docs / "index.md").open("a", encoding="utf-8") as page:
        page.write(
            "\n\n[gone](no-such-page.md) [anchor](results.md#no-such-heading) [absolute](/img/mnist.png) "
            "[api][funcnet.layers.NoSuchLayer]\n"
        )

    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    for mistake in ["no-such-page.md", "no-such-heading", "/img/mnist.png", "funcnet.layers.NoSuchLayer"]:
        assert mistake in result.stderr, (mistake, result.stderr[-4000:])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test (apt-get install -y chromium)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not os.path.isfile(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (the test extra)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield instance
        finally:
            with contextlib.suppress(Exception):
                instance.close()


@pytest.mark.parametrize("path", list(PAGES))
def test_page_has_no_errors_and_no_missing_images(browser, server, path):
    problems: list[str] = []
    page = browser.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text} ({m.location})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    def only_local(route):
        if urllib.parse.urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("data:"):
            route.continue_()
        else:  # the site must not need the network (fonts, CDNs, analytics)
            problems.append(f"non-local request: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    try:
        response = page.goto(server + path, wait_until="load")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        page.wait_for_load_state("networkidle")
        images = page.evaluate(
            "() => Array.from(document.images, i => ({src: i.currentSrc || i.src, complete: i.complete,"
            " width: i.naturalWidth}))"
        )
        title = page.title()
    finally:
        page.close()
    missing = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert "funcnet" in title
    assert not problems, f"{path}: " + "\n".join(problems)
    assert not missing, f"{path}: images that did not load: {missing}"
    assert len(images) >= PAGES[path], f"{path}: expected at least {PAGES[path]} image(s), found {len(images)}"

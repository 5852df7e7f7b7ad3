"""Fixtures for the data set tests: a hermetic cache and download location, and a local HTTP server
(the generated files it serves are built by `_helpers`)."""
import http.server
import socket
import threading

import pytest

from funcnet.datasets import _files
from tests.datasets._helpers import keras_load_once, load_once


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test touches ~/.funcnet or the internet: the cache is a fresh folder, downloads go nowhere."""
    monkeypatch.setenv(_files.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(_files.BASE_URL_ENV, closed_port_url())
    monkeypatch.setattr(_files, "DOWNLOAD_TIMEOUT_S", 5.0)
    return tmp_path / "cache"


class Server:
    """What the test server serves (``files``), what it was asked for (``requests``), and which files it
    announces with a longer Content-Length than it sends before closing the connection (``cut_short``)."""

    def __init__(self, url: str):
        self.url = url
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.cut_short: set[str] = set()


@pytest.fixture
def server(monkeypatch):
    """A threaded http.server on 127.0.0.1, set as FUNCNET_DATASETS_URL, shut down after the test."""
    handler_state = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5

        def do_GET(self):
            state = handler_state["server"]
            state.requests.append(self.path)
            name = self.path.lstrip("/")
            body = state.files.get(name)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            extra = 1000 if name in state.cut_short else 0
            self.send_header("Content-Length", str(len(body) + extra))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Server(f"http://127.0.0.1:{httpd.server_address[1]}/")
    handler_state["server"] = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(_files.BASE_URL_ENV, state.url)
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="package", autouse=True)
def release_loaded_data():
    """The real IMDB, loaded once per configuration for these tests, takes hundreds of MB: free it."""
    yield
    load_once.cache_clear()
    keras_load_once.cache_clear()

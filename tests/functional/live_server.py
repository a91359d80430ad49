"""The portal served over real HTTP, for clients that need a socket: the ckanapi client
and command line, another portal's harvester, a browser.

waitress (the server ``opendata serve`` runs) listens on a free loopback port in a
background thread and stops when the test ends, keep-alive connections included.

    pytest_plugins = ("tests.functional.live_server",)  # in the test module

    def test_something(live_server):
        requests.get(live_server + "/api/3/action/status_show")
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

STOP_TIMEOUT_SECONDS = 10


@contextmanager
def serve(app: Flask, threads: int = 4) -> Iterator[str]:
    """Serve the app on 127.0.0.1 until the block ends; yields its base URL."""
    socket_map: dict = {}
    server = create_server(app, map=socket_map, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closing the sockets inside the server's own loop lets it end cleanly: the loop
        # stops when no socket is left, whatever connections clients kept open.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        server.task_dispatcher.shutdown()
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            raise RuntimeError("the live server did not stop")


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test's app (tests/conftest.py) served over HTTP; its base URL, no trailing slash."""
    with serve(app) as url:
        yield url

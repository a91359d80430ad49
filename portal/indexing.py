"""Keeps the search index true while the portal runs.

Each write request drains the outbox right after it commits (waiting at most two
seconds), so a steward sees their change in search at once; a background thread drains
whatever that missed (the engine was down or slow, another process wrote) every few
seconds. The outbox holds every change until
an engine has taken it, so neither path can lose one.
"""

import logging
import threading

from flask import Flask, request

from catalog.backends import Backends
from catalog.services.search import index_pending

log = logging.getLogger(__name__)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def drain(backends: Backends) -> int:
    """Index every pending change; returns how many entries were done."""
    done = 0
    with backends.sessions() as session:
        while count := index_pending(session, backends.catalog_index):
            done += count
    return done


def _drain_quietly(backends: Backends) -> None:
    try:
        drain(backends)
    except Exception:  # the entries stay in the outbox and are retried
        log.warning("search index unavailable; changes wait in the outbox", exc_info=True)


# How long a write request waits for its change to be indexed. A healthy engine takes
# milliseconds; a hung one must not hold the steward's request for the client's timeouts.
WRITE_WAITS_FOR_INDEX_SECONDS = 2.0


def init_app(app: Flask) -> None:
    @app.after_request
    def index_after_write(response):
        if request.method in WRITE_METHODS and response.status_code < 400:
            indexer = threading.Thread(
                target=_drain_quietly,
                args=(app.extensions["opendata"],),
                name="index-after-write",
                daemon=True,
            )
            indexer.start()
            # Left running past the wait, it finishes or fails on its own; the outbox keeps
            # whatever it did not index, and document versions keep late writes harmless.
            indexer.join(WRITE_WAITS_FOR_INDEX_SECONDS)
        return response


class OutboxDrainer(threading.Thread):
    """Drains the outbox every ``interval`` seconds until stopped."""

    def __init__(self, backends: Backends, interval: float = 2.0):
        super().__init__(name="search-outbox", daemon=True)
        self.backends = backends
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            _drain_quietly(self.backends)

    def stop(self) -> None:
        self.stopped.set()

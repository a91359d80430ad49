import os
import signal
import subprocess
import sys
import time

from catalog.backends import Backends
from catalog.db import upgrade_database
from catalog.services.search import search_status
from portal.settings import Settings
from tests.factories import make_dataset, make_department


def test_worker_indexes_pending_changes_and_stops_on_sigterm(tmp_path):
    environment = {"OPENDATA_INSTANCE_PATH": str(tmp_path)}
    backends = Backends.from_settings(Settings.load(environ=environment))
    upgrade_database(backends.engine)
    backends.catalog_index.ensure()
    with backends.sessions() as session:
        make_dataset(session, make_department(session), title="禅城区公交站点位置")
        assert search_status(session, backends.catalog_index).pending == 1

    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from portal.cli import main; main()",
            "worker",
            "--interval",
            "0.2",
        ],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENDATA_")},
            **environment,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while backends.catalog_index.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=10)
    assert worker.returncode == 0, output
    assert "Worker stopped" in output
    with backends.sessions() as session:
        status = search_status(session, backends.catalog_index)
    assert (status.pending, status.indexed) == (0, 1)
    backends.dispose()


def test_a_hung_engine_does_not_hold_write_requests(app, client, session, backends, monkeypatch):
    import threading

    from portal import indexing
    from tests.factories import bearer, make_user, token_for

    release = threading.Event()

    def hang(_documents):
        release.wait(30)

    monkeypatch.setattr(indexing, "WRITE_WAITS_FOR_INDEX_SECONDS", 0.5)
    monkeypatch.setattr(backends.catalog_index, "upsert", hang)
    department = make_department(session)
    steward = make_user(session, department=department, role="editor")
    started = time.monotonic()
    response = client.post(
        "/api/v1/datasets",
        json={
            "slug": "slow-engine",
            "title": "慢引擎",
            "department": department.slug,
            "open_type": "unconditional",
            "share_type": "unconditional",
        },
        headers=bearer(token_for(session, steward)),
    )
    elapsed = time.monotonic() - started
    release.set()
    assert response.status_code == 201
    assert elapsed < 5

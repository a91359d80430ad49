"""``opendata serve``: where it listens, when it refuses to start, its debug server."""

import socket
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from flask import Flask

from portal.cli import main

EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what the tests expect a container to listen on


@pytest.fixture
def keep_signals(monkeypatch):
    # serve makes SIGTERM end it; keep the test process's own handler.
    monkeypatch.setattr("signal.signal", lambda *args: None)


@pytest.fixture
def served(monkeypatch, keep_signals):
    """What ``serve`` would hand waitress or Flask's development server, without serving."""
    calls = []

    def create_server(app, **options):
        calls.append(options)
        return SimpleNamespace(run=lambda: None)

    monkeypatch.setattr("waitress.create_server", create_server)
    monkeypatch.setattr(Flask, "run", lambda app, **options: calls.append(options))
    return calls


@pytest.fixture
def environment(tmp_path, database_engine):
    """A migrated test database and an instance folder of this test's own."""
    return {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_DATABASE_URL": database_engine.url.render_as_string(hide_password=False),
        "OPENDATA_EMBEDDED_WORKER": "false",
    }


def serve(environment, *args):
    return CliRunner().invoke(main, ["serve", *args], env=environment)


def test_host_and_port_come_from_the_settings(environment, served):
    result = serve({**environment, "OPENDATA_HOST": EVERY_INTERFACE, "PORT": "8081"})
    assert result.exit_code == 0, result.output
    assert (served[0]["host"], served[0]["port"]) == (EVERY_INTERFACE, 8081)
    assert f"on http://{EVERY_INTERFACE}:8081/" in result.output


def test_options_beat_the_settings(environment, served):
    result = serve(
        {**environment, "OPENDATA_HOST": EVERY_INTERFACE}, "--host", "::1", "--port", "8082"
    )
    assert result.exit_code == 0, result.output
    assert (served[0]["host"], served[0]["port"]) == ("::1", 8082)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "not a port number"),
        (["--port", "0"], "not a port number"),
        (["--host", "http://x"], "not an IP address or host name"),
    ],
)
def test_bad_options_are_refused(environment, served, args, message):
    result = serve(environment, *args)
    assert result.exit_code == 2 and message in result.output
    assert served == []


def test_an_uninitialised_instance_is_not_served(tmp_path, served):
    result = serve({"OPENDATA_INSTANCE_PATH": str(tmp_path / "fresh")})
    assert result.exit_code == 1
    assert "run `opendata init`" in result.output
    assert served == []
    assert not (tmp_path / "fresh" / "catalog.db").exists()


def test_a_schema_behind_the_code_is_not_served(tmp_path, served):
    from catalog.db import create_database_engine

    database = tmp_path / "old.db"
    with create_database_engine(f"sqlite:///{database}").begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num TEXT)")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001_old')")
    result = serve(
        {"OPENDATA_INSTANCE_PATH": str(tmp_path), "OPENDATA_DATABASE_URL": f"sqlite:///{database}"}
    )
    assert result.exit_code == 1
    assert "schema 0001_old" in result.output and "run `opendata init`" in result.output
    assert served == []


def test_a_port_in_use_is_a_clear_error_before_the_worker_starts(environment, keep_signals):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve({**environment, "OPENDATA_EMBEDDED_WORKER": "true"}, "--port", str(port))
    assert result.exit_code == 1
    assert result.output == f"Error: cannot listen on 127.0.0.1:{port}: port {port} is in use\n"


def test_a_host_that_does_not_resolve_is_a_clear_error(environment, keep_signals):
    result = serve(environment, "--host", "no-such-host.invalid")
    assert result.exit_code == 1
    assert "cannot listen on no-such-host.invalid:5000: " in result.output
    assert isinstance(result.exception, SystemExit)


def test_debug_is_the_development_server_without_its_reloader(environment, served):
    result = serve(environment, "--debug")
    assert result.exit_code == 0, result.output
    assert served[0]["debug"] is True and served[0]["use_reloader"] is False
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "reloading" not in help_text and "no reloader" in help_text

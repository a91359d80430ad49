import os

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from catalog.backends import Backends
from catalog.db import create_database_engine
from catalog.models import ApiToken, AuditEvent, Membership, User
from catalog.services.users import hash_token
from portal.cli import main
from portal.settings import Settings

REDIS_URL = os.environ.get("OPENDATA_TEST_REDIS_URL")


@pytest.fixture
def environment(tmp_path, database_engine):
    """The CLI pointed at a temporary instance and the test database."""
    with database_engine.begin() as connection:
        for table in (ApiToken, Membership, AuditEvent, User):
            connection.execute(delete(table))
    return {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_DATABASE_URL": database_engine.url.render_as_string(hide_password=False),
    }


def run(environment, *args, input=None, env=None):
    return CliRunner().invoke(main, list(args), env={**environment, **(env or {})}, input=input)


def test_init_check_and_token(environment):
    assert run(environment, "init").exit_code == 0
    checked = run(environment, "check")
    assert checked.exit_code == 0, checked.output
    assert "database" in checked.output and "ok" in checked.output

    created = run(environment, "user", "create", "steward", input="pw-123456\npw-123456\n")
    assert created.exit_code == 0, created.output
    issued = run(environment, "token", "create", "--user", "steward", "--scope", "read")
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    assert token.startswith("odp_")

    backends = Backends.from_settings(Settings.load(environ=environment))
    with backends.sessions() as session:
        row = session.scalar(select(ApiToken))
        # Only the hash is kept, never the token.
        assert row.token_hash == hash_token(token)
        assert token not in (row.token_hash, row.prefix)
        assert row.scopes == ["read"]
    backends.dispose()


def test_set_password_lets_a_demo_steward_log_in(environment):
    from catalog.services.users import check_password

    run(environment, "init")
    run(environment, "user", "create", "edu-steward", input="first-pass-1\nfirst-pass-1\n")
    short = run(environment, "user", "set-password", "edu-steward", input="short\nshort\n")
    assert short.exit_code == 1 and "at least 10" in short.output
    result = run(
        environment, "user", "set-password", "edu-steward", input="new-password-1\nnew-password-1\n"
    )
    assert result.exit_code == 0, result.output
    backends = Backends.from_settings(Settings.load(environ=environment))
    with backends.sessions() as session:
        assert check_password(session, "edu-steward", "new-password-1").name == "edu-steward"
    backends.dispose()


def test_tokens_are_listed_without_their_text_and_revoked(environment):
    run(environment, "init")
    run(environment, "user", "create", "steward", input="pw-1234567\npw-1234567\n")
    token = run(
        environment, "token", "create", "--user", "steward", "--name", "报表"
    ).output.strip()
    listed = run(environment, "token", "list", "--user", "steward")
    assert listed.exit_code == 0, listed.output
    assert "报表" in listed.output and token[:10] in listed.output and token not in listed.output
    token_id = listed.output.splitlines()[1].split()[0]

    revoked = run(environment, "token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert len(run(environment, "token", "list", "--user", "steward").output.splitlines()) == 1
    unknown = run(environment, "token", "revoke", "no-such-token")
    assert unknown.exit_code == 1 and "No such token" in unknown.output


def test_token_for_unknown_user_fails_clearly(environment):
    run(environment, "init")
    result = run(environment, "token", "create", "--user", "nobody")
    assert result.exit_code == 1
    assert "No user named 'nobody'" in result.output


def test_bad_setting_is_a_clear_error(environment):
    environment = {**environment, "OPENDATA_STORAGE_URL": "ftp://files"}
    result = run(environment, "check")
    assert result.exit_code == 1
    assert "OPENDATA_STORAGE_URL" in result.output


def test_check_fails_when_the_database_does_not_answer(environment, tmp_path):
    environment = {
        **environment,
        "OPENDATA_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:1/none",
    }
    result = run(environment, "check")
    assert result.exit_code == 1
    assert "FAILED" in result.output


def test_settings_lists_every_variable(environment):
    result = run(environment, "settings")
    assert result.exit_code == 0
    for name in ("OPENDATA_DATABASE_URL", "OPENDATA_STORAGE_URL", "OPENDATA_SEARCH_URL"):
        assert name in result.output


def test_check_fails_when_the_queue_does_not_answer(environment):
    run(environment, "init")
    result = run(environment, "check", env={"OPENDATA_QUEUE_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 1
    queue_line = next(line for line in result.output.splitlines() if "queue" in line.split())
    assert "FAILED" in queue_line and "127.0.0.1:1" in queue_line


def test_check_reports_the_embedded_queue(environment):
    run(environment, "init")
    result = run(environment, "check")
    assert result.exit_code == 0, result.output
    queue_line = next(line for line in result.output.splitlines() if "queue" in line.split())
    assert "ok" in queue_line and "queue.db" in queue_line


def line_of(result, first_word: str) -> str:
    return next(line for line in result.output.splitlines() if line.split()[:1] == [first_word])


def test_check_creates_nothing(environment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    instance = tmp_path / "instance"
    result = run(
        {**environment, "OPENDATA_DATABASE_URL": f"sqlite:///{instance / 'catalog.db'}"},
        "check",
        env={"OPENDATA_STORAGE_URL": "file:relative"},
    )
    assert result.exit_code == 1
    # Not even the instance folder with a secret key: `opendata init` makes that.
    assert list(tmp_path.iterdir()) == []
    assert "(not yet generated: run `opendata init`)" in line_of(result, "secret_key")
    for port in ("database", "object", "search", "queue"):
        line = line_of(result, port)
        assert "FAILED" in line and "run `opendata init`" in line


def test_check_leaves_the_tables_of_an_empty_database_to_init(environment, tmp_path):
    database = tmp_path / "empty.db"
    database.touch()
    result = run(environment, "check", env={"OPENDATA_DATABASE_URL": f"sqlite:///{database}"})
    assert result.exit_code == 1
    assert "FAILED" in line_of(result, "records")
    with create_database_engine(f"sqlite:///{database}").connect() as connection:
        assert connection.exec_driver_sql("SELECT name FROM sqlite_master").all() == []


def test_check_tries_the_rate_limit_storage_when_one_is_set(environment):
    run(environment, "init")
    assert "rate" not in run(environment, "check").output.split()
    result = run(
        environment, "check", env={"OPENDATA_RATE_LIMIT_STORAGE_URL": "redis://:pw@127.0.0.1:1"}
    )
    assert result.exit_code == 1
    line = line_of(result, "rate")
    assert "FAILED" in line and "redis://:***@127.0.0.1:1" in line and "pw" not in line
    memory = run(environment, "check", env={"OPENDATA_RATE_LIMIT_STORAGE_URL": "memory://"})
    assert memory.exit_code == 0, memory.output
    assert "ok" in line_of(memory, "rate")


@pytest.mark.skipif(not REDIS_URL, reason="OPENDATA_TEST_REDIS_URL is not set")
def test_check_says_which_redis_holds_the_rate_limits(environment):
    run(environment, "init")
    result = run(environment, "check", env={"OPENDATA_RATE_LIMIT_STORAGE_URL": REDIS_URL})
    assert result.exit_code == 0, result.output
    assert "ok" in line_of(result, "rate") and "Redis" in line_of(result, "rate")


@pytest.mark.parametrize(
    "command",
    [["init"], ["demo"], ["grant", "list", "x"], ["token", "list", "--user", "admin"]],
)
def test_a_database_that_does_not_answer_is_one_line(environment, command):
    url = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none"
    result = run(environment, *command, env={"OPENDATA_DATABASE_URL": url})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    [line] = result.output.splitlines()
    assert line.startswith("Error: ")
    assert "postgresql+psycopg://nobody:***@127.0.0.1:1/none" in line and "secret-pw" not in line
    assert "Connection refused" in line


# The commands that need no catalog database, or that create it.
WITHOUT_DATABASE = {"check", "demo", "harvest types", "init", "settings", "uploads clean"}


def _commands(group: click.Group, prefix: str = ""):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def _placeholders(command: click.Command) -> list[str]:
    """Values for a command's required parameters, enough to get past their parsing."""
    args = []
    for param in command.params:
        value = param.type.choices[0] if isinstance(param.type, click.Choice) else "x"
        if isinstance(param, click.Argument):
            args += [value] * max(param.nargs, 0)
        elif param.required:
            args += [param.opts[0], value]
    return args


DATABASE_COMMANDS = {name: c for name, c in _commands(main) if name not in WITHOUT_DATABASE}


def test_the_commands_without_database_exist():
    assert WITHOUT_DATABASE.issubset(name for name, _ in _commands(main))


@pytest.mark.parametrize("name", sorted(DATABASE_COMMANDS))
def test_every_command_on_the_database_refuses_an_uninitialised_instance(tmp_path, name):
    instance = tmp_path / "fresh"
    result = CliRunner().invoke(
        main,
        [*name.split(), *_placeholders(DATABASE_COMMANDS[name])],
        env={"OPENDATA_INSTANCE_PATH": str(instance)},
        input="password-123\npassword-123\n",
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    # After any password prompt, which click asks while it reads the options.
    refusal = result.output.splitlines()[-1]
    assert refusal.startswith("Error: the catalog database is not ready: ")
    assert refusal.endswith("run `opendata init`")
    assert not (instance / "catalog.db").exists() and not (instance / "queue.db").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENDATA_STORAGE_URL", "s3://"),
        ("OPENDATA_SEARCH_URL", "opensearch+http://"),
        ("OPENDATA_DATABASE_URL", "sqlite:"),
        ("OPENDATA_SECRET_KEY", ""),
        ("PORT", "99999"),
        ("PORT", "-1"),
        ("PORT", "0"),
        ("OPENDATA_RATE_LIMIT", "lots"),
    ],
)
@pytest.mark.parametrize("command", ["check", "init", "serve"])
def test_every_command_stops_at_a_bad_setting(environment, monkeypatch, command, name, value):
    monkeypatch.setattr("waitress.create_server", _must_not_serve)
    result = run(environment, command, env={name: value})
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: bad setting: {name} (from environment variable")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_boolean_is_not_a_number_in_the_config_file(environment, tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "opendata.toml").write_text("harvest_timeout_seconds = true\n")
    result = run(environment, "check")
    assert result.exit_code == 1
    assert "bad setting: harvest_timeout_seconds (from " in result.output


def test_a_misspelt_variable_is_warned_about(environment):
    result = run(environment, "init", env={"OPENDATA_DATABSE_URL": "sqlite:///elsewhere.db"})
    assert result.exit_code == 0, result.output
    assert (
        "warning: OPENDATA_DATABSE_URL is not a setting and is ignored; did you mean "
        "OPENDATA_DATABASE_URL?" in result.stderr
    )
    assert "OPENDATA_TEST" not in result.stderr


def _must_not_serve(*args, **kwargs):
    raise AssertionError("served despite a bad setting")

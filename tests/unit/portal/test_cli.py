import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from catalog.backends import Backends
from catalog.models import ApiToken, AuditEvent, Membership, User
from catalog.services.users import hash_token
from portal.cli import main
from portal.settings import Settings


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


def test_check_creates_nothing(environment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    instance = tmp_path / "instance"
    instance.mkdir()
    before = sorted(tmp_path.rglob("*"))
    result = run(
        {**environment, "OPENDATA_DATABASE_URL": f"sqlite:///{instance / 'catalog.db'}"},
        "check",
        env={"OPENDATA_STORAGE_URL": "file:relative"},
    )
    assert result.exit_code == 1
    # The secret key is a setting, generated on first read; every backend is left alone.
    assert sorted(tmp_path.rglob("*")) == [*before, instance / "secret_key"]
    for port in ("database", "object", "search", "queue"):
        line = next(line for line in result.output.splitlines() if line.split()[:1] == [port])
        assert "FAILED" in line and "run `opendata init`" in line


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
    monkeypatch.setattr("waitress.serve", _must_not_serve)
    result = run(environment, command, env={name: value})
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: bad setting: {name} (from environment variable")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_boolean_is_not_a_number_in_the_config_file(environment, tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "opendata.toml").write_text("harvest_timeout_seconds = true\n")
    result = run(environment, "check")
    assert result.exit_code == 1
    assert "bad setting: OPENDATA_HARVEST_TIMEOUT_SECONDS" in result.output


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

"""``opendata grant``: add, list and revoke grants from the command line, as the operator."""

from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import portal.cli  # noqa: F401 - first the command line, which loads its command modules
from catalog.models import AuditEvent, Grant
from portal.cli_grants import grant
from tests.factories import make_dataset, make_department, make_user


@pytest.fixture
def environment(backends, session, tmp_path):
    """The CLI on the test database (emptied by ``backends``): a department with a
    有条件开放 dataset, another department and a user to give access to."""
    health = make_department(session, slug="health")
    make_department(session, slug="edu")
    make_dataset(session, health, slug="clinics", open_type="conditional", share_type="not_shared")
    make_user(session, name="researcher")
    return {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_DATABASE_URL": backends.engine.url.render_as_string(hide_password=False),
    }


def run(environment, *args):
    return CliRunner().invoke(grant, list(args), env=environment)


def grants(backends) -> list[Grant]:
    with backends.sessions() as fresh:
        rows = fresh.scalars(select(Grant)).all()
        fresh.expunge_all()
        return rows


def test_add_list_and_revoke_a_grant(environment, backends):
    last_day = date.today() + timedelta(days=60)
    added = run(
        environment,
        "add",
        "clinics",
        "--user",
        "researcher",
        "--expires",
        last_day.isoformat(),
        "--reason",
        "申请编号 2024-017",
    )
    assert added.exit_code == 0, added.output
    grant_id = added.output.split()[-1]
    assert f"until {last_day + timedelta(days=1)} 00:00 (UTC+8)" in added.output
    [row] = grants(backends)
    assert row.id == grant_id and row.reason == "申请编号 2024-017"
    # Access lasts through the last day, China time: it ends at 16:00 UTC that day.
    assert row.expires_at == datetime.combine(last_day, datetime.min.time(), UTC).replace(hour=16)

    listed = run(environment, "list", "clinics")
    assert listed.exit_code == 0, listed.output
    line = listed.output.splitlines()[1].split()
    assert line[:4] == [grant_id, "user", "researcher", (last_day + timedelta(days=1)).isoformat()]
    assert "live" in line and "申请编号" in line

    revoked = run(environment, "revoke", grant_id)
    assert revoked.exit_code == 0 and f"Revoked grant {grant_id}." in revoked.output
    assert grants(backends) == []
    assert "No grants on clinics." in run(environment, "list", "clinics").output
    again = run(environment, "revoke", grant_id)
    assert again.exit_code == 1 and "No such grant." in again.output

    with backends.sessions() as fresh:
        actions = fresh.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_id == grant_id)
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["grant.create", "grant.revoke"]


def test_a_department_grant_without_expiry(environment, backends):
    added = run(environment, "add", "clinics", "--department", "edu")
    assert added.exit_code == 0, added.output
    assert "Granted edu access to clinics. Grant id:" in added.output
    [row] = grants(backends)
    assert row.expires_at is None and row.user_id is None
    line = run(environment, "list", "clinics").output.splitlines()[1].split()
    assert line[1:5] == ["department", "edu", "never", "live"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clinics"], "Name either a department or a user."),
        (["clinics", "--department", "edu", "--user", "researcher"], "Name either"),
        (["clinics", "--department", "nowhere"], "No department 'nowhere'."),
        (["clinics", "--user", "nobody"], "No user named 'nobody'."),
        (["clinics", "--department", "health"], "The owning department always has"),
        (["clinics", "--user", "researcher", "--expires", "2020-01-01"], "must lie in the future"),
        (["no-such-dataset", "--user", "researcher"], "Dataset not found."),
    ],
)
def test_refused_grants_say_why_and_write_nothing(environment, backends, args, message):
    result = run(environment, "add", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert grants(backends) == []


def test_a_second_live_grant_is_refused(environment, backends):
    assert run(environment, "add", "clinics", "--user", "researcher").exit_code == 0
    again = run(environment, "add", "clinics", "--user", "researcher")
    assert again.exit_code == 1 and "already holds grant" in again.output
    assert len(grants(backends)) == 1


def test_an_expiry_that_is_not_a_date_is_a_usage_error(environment):
    result = run(environment, "add", "clinics", "--user", "researcher", "--expires", "tomorrow")
    assert result.exit_code == 2
    assert "'tomorrow' does not match the format '%Y-%m-%d'" in result.output

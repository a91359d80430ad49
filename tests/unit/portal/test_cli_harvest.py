"""``opendata harvest``, ``opendata worker`` and the worker inside ``opendata serve``."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from catalog.models import Dataset, HarvestJob, HarvestSource
from harvesters.tasks import JobQueue
from portal.cli import main
from portal.settings import Settings
from tests.factories import make_department
from tests.unit.harvesters.http_server import LocalHttpServer
from tests.unit.harvesters.sample_source import register_sample_type

FIXTURES = Path(__file__).parents[2] / "fixtures"
PROVINCES = FIXTURES / "tabular" / "nbs_division_codes_2023__provinces.csv"
TITLES = json.dumps({"titles": ["禅城区学校名录", "", "禅城区公园"]}, ensure_ascii=False)


@pytest.fixture
def installed(backends, session, tmp_path):
    """The CLI on the test database (emptied by ``backends``) and an instance of its own,
    with the installed source types and two departments."""
    make_department(session, slug="edu")
    make_department(session, slug="parks")
    return {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_DATABASE_URL": backends.engine.url.render_as_string(hide_password=False),
        "OPENDATA_HARVEST_ALLOW_PRIVATE_ADDRESSES": "true",
    }


@pytest.fixture
def environment(installed, monkeypatch):
    """The same, with the sample source type as the only one installed."""
    register_sample_type(monkeypatch)
    return installed


def run(environment, *args):
    return CliRunner().invoke(main, list(args), env=environment)


def add(environment, *extra) -> str:
    result = run(environment, "harvest", "add", "--department", "edu", "--kind", "sample", *extra)
    assert result.exit_code == 0, result.output
    return result.output.split()[3]  # "Added harvest source <id> (...)"


def rows(backends, model):
    with backends.sessions() as check:
        return check.scalars(select(model)).all()


def test_types_lists_the_installed_source_types(environment):
    result = run(environment, "harvest", "types")
    assert result.exit_code == 0
    assert result.output.split() == ["sample", "测试目录"]


def test_add_list_run_here_and_read_the_report(environment, backends):
    source_id = add(
        environment,
        "--url",
        "sample:",
        "--name",
        "教育局目录",
        "--config",
        TITLES,
        "--schedule",
        "0 2 * * *",
    )
    listed = run(environment, "harvest", "list", "--department", "edu")
    assert (
        source_id in listed.output
        and "教育局目录" in listed.output
        and "0 2 * * *" in listed.output
    )

    ran = run(environment, "harvest", "run", "教育局目录", "--here")
    assert ran.exit_code == 0, ran.output
    assert "succeeded; created 2, updated 0, unchanged 0, withdrawn 0, failed 1" in ran.output
    [job] = rows(backends, HarvestJob)
    assert (job.status, job.trigger) == ("succeeded", "manual")

    jobs = run(environment, "harvest", "jobs", source_id)
    assert job.id in jobs.output and "2/0/0/0/1" in jobs.output

    report = run(environment, "harvest", "job", job.id)
    assert report.exit_code == 0, report.output
    assert "status:      succeeded" in report.output
    assert "[gather] item-1: 没有标题" in report.output
    assert '"title": ""' in report.output

    again = run(environment, "harvest", "run", source_id, "--here")
    assert "created 0, updated 0, unchanged 2" in again.output


def test_run_queues_the_job_for_a_worker(environment, backends):
    source_id = add(environment, "--url", "sample:", "--config", TITLES)
    queued = run(environment, "harvest", "run", source_id)
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    [job] = rows(backends, HarvestJob)
    assert (job.id, job.status) == (job_id, "queued")
    queue = JobQueue.from_settings(Settings.load(environ=environment), backends)
    assert queue.huey.pending_count() == 1

    busy = run(environment, "harvest", "run", source_id)
    assert busy.exit_code == 1 and "already has a queued or running job" in busy.output

    cancelled = run(environment, "harvest", "cancel", job_id)
    assert cancelled.exit_code == 0 and "is cancelled" in cancelled.output
    listed = run(environment, "harvest", "jobs", "--status", "cancelled")
    assert job_id in listed.output
    # The message still in the queue finds the job cancelled and does nothing.
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
    assert rows(backends, HarvestJob)[0].status == "cancelled"


def test_a_stuck_job_is_marked_and_can_be_cancelled(environment, backends):
    source_id = add(environment, "--url", "sample:")
    job_id = run(environment, "harvest", "run", source_id).stdout.strip()
    past = datetime.now(UTC) - timedelta(minutes=10)
    with backends.sessions() as writer:
        writer.execute(
            update(HarvestJob).values(
                status="running", worker="gone:1:Worker-1", started_at=past, lease_expires_at=past
            )
        )
        writer.commit()
    assert "running STUCK" in run(environment, "harvest", "jobs").output
    assert (
        "STUCK: its worker stopped answering" in run(environment, "harvest", "job", job_id).output
    )
    released = run(environment, "harvest", "cancel", job_id)
    assert released.exit_code == 0 and "is cancelled" in released.output


def test_a_source_that_fails_exits_non_zero(environment, backends):
    with LocalHttpServer() as server:
        source_id = add(environment, "--url", server.url("/gone.json"))
        ran = run(environment, "harvest", "run", source_id, "--here")
    assert ran.exit_code == 1
    assert "failed" in ran.output and "404" in ran.output


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--kind", "sample", "--url", "sample:", "--config", "{oops"], 2, "not JSON"),
        (["--kind", "sample", "--url", "sample:", "--config", "[1, 2]"], 2, "JSON object"),
        (["--kind", "nope", "--url", "sample:"], 1, "kind: 未知的采集源类型"),
        (["--kind", "sample", "--url", "ftp://x"], 1, "url:"),
        (["--kind", "sample", "--url", "sample:", "--schedule", "at two"], 1, "schedule:"),
        (["--kind", "sample", "--url", "sample:", "--on-missing", "delete"], 2, "delete"),
        (
            ["--kind", "sample", "--url", "sample:", "--defaults", '{"colour": 1}'],
            1,
            "dataset_defaults.colour",
        ),
    ],
)
def test_bad_sources_are_refused_clearly(environment, backends, args, exit_code, message):
    result = run(environment, "harvest", "add", "--department", "edu", *args)
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert rows(backends, HarvestSource) == []


def test_unknown_things_are_clear_errors(environment):
    unknown_department = run(
        environment,
        "harvest",
        "add",
        "--department",
        "nope",
        "--kind",
        "sample",
        "--url",
        "sample:",
    )
    assert unknown_department.exit_code == 1
    assert "No department 'nope'" in unknown_department.output
    for args, message in (
        (["run", "no-such-source"], "No harvest source with the id or name 'no-such-source'"),
        (["jobs", "no-such-source"], "No harvest source"),
        (["job", "no-such-job"], "Harvest job not found"),
        (["cancel", "no-such-job"], "Harvest job not found"),
    ):
        result = run(environment, "harvest", *args)
        assert result.exit_code == 1, args
        assert message in result.output


def test_a_name_in_two_departments_needs_an_id(environment):
    add(environment, "--url", "sample:", "--name", "目录")
    result = run(
        environment,
        "harvest",
        "add",
        "--department",
        "parks",
        "--kind",
        "sample",
        "--url",
        "sample:",
        "--name",
        "目录",
    )
    assert result.exit_code == 0
    ambiguous = run(environment, "harvest", "run", "目录")
    assert ambiguous.exit_code == 1 and "Several sources are named '目录'" in ambiguous.output


# The worker processes -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(environment, *args) -> subprocess.Popen:
    # The portal's own command line with the test's fixed arguments.
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", "from portal.cli import main; main()", *args],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENDATA_")},
            **environment,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_job(backends, statuses, process, seconds=60) -> HarvestJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        jobs = rows(backends, HarvestJob)
        if jobs and jobs[0].status in statuses:
            return jobs[0]
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    raise AssertionError(f"no job became {statuses}: {process.communicate(timeout=20)[0]}")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_run_queued_harvests_and_stop_cleanly(installed, backends, command):
    """A real file harvested by the worker of `opendata serve` (embedded, the default) and
    of `opendata worker`, each stopped as an operator would: Ctrl-C, SIGTERM."""
    if command == "serve" and backends.engine.dialect.name != "sqlite":
        pytest.skip("serve's embedded worker is the one-machine default; worker runs on both")
    with LocalHttpServer() as files:
        files.add_file("/data/provinces.csv", PROVINCES)
        added = run(
            installed,
            *("harvest", "add", "--department", "edu", "--kind", "url"),
            *("--url", files.url("/data/provinces.csv"), "--config", '{"title": "省级行政区划"}'),
        )
        assert added.exit_code == 0, added.output
        assert run(installed, "harvest", "run", added.output.split()[3]).exit_code == 0
        args = ["serve", "--port", str(_free_port())] if command == "serve" else ["worker"]
        process = _start(installed, *args)
        try:
            job = _wait_for_job(backends, ("succeeded", "failed"), process)
        finally:
            process.send_signal(signal.SIGINT if command == "serve" else signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert (job.status, job.created) == ("succeeded", 1), job.error
    with backends.sessions() as check:
        assert check.scalar(select(Dataset.title)) == "省级行政区划"
        assert check.scalar(select(func.count()).select_from(Dataset)) == 1
    if command == "serve":
        assert "Job worker running beside the web server" in output and "Stopped." in output
    else:
        assert "Worker stopped." in output

"""``opendata harvest``: add and list harvest sources, run them, read and cancel their jobs.

The command line acts as the operator (a sysadmin), like the other admin commands.
"""

import itertools
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import click

from catalog.errors import NotFound
from portal.cli import OPERATOR, Context, _run, pass_ready_context

ON_MISSING = ("withdraw", "keep")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
COUNTS = ("created", "updated", "unchanged", "withdrawn", "failed")
PAYLOAD_SHOWN = 300  # characters of an error's raw payload in a report


@click.group()
def harvest() -> None:
    """Harvest sources (a department's CKAN portal, DCAT catalog, data.json, file URL,
    folder, SQL query or S3 prefix) and their jobs."""


@harvest.command("types")
def harvest_types() -> None:
    """List the installed source types."""
    from harvesters.registry import source_types

    for kind, source_type in sorted(source_types().items()):
        click.echo(f"{kind:<10} {source_type.label}")


def _json_object(option: str, text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error.msg}", param_hint=option) from error
    if not isinstance(value, dict):
        raise click.BadParameter('give a JSON object, e.g. {"page_size": 100}', param_hint=option)
    return value


def _default_name(kind: str, url: str) -> str:
    parts = urlsplit(url)
    where = parts.netloc + parts.path if parts.netloc else url
    return f"{kind} {where}".strip()[:200]


@harvest.command("add")
@click.option("--department", required=True, help="Slug of the department that owns it.")
@click.option("--kind", required=True, help="Source type (`opendata harvest types`).")
@click.option("--url", required=True, help="What the source type reads.")
@click.option("--name", default="", help="What stewards call it; default: kind and host.")
@click.option("--config", help="Options of the source type, as a JSON object.")
@click.option("--defaults", help="Values for the datasets it creates, as a JSON object.")
@click.option("--schedule", help="Five-field cron expression in UTC, e.g. '0 2 * * *'.")
@click.option("--on-missing", type=click.Choice(ON_MISSING), default="withdraw", show_default=True)
@pass_ready_context
def harvest_add(
    context: Context, department, kind, url, name, config, defaults, schedule, on_missing
):
    """Add a harvest source to a department; its URL and options are checked first."""
    from catalog.services.harvest import SourceValues, create_source
    from harvesters.specs import check_spec

    values = SourceValues(
        name=name.strip() or _default_name(kind, url),
        kind=kind,
        url=url,
        config=_json_object("--config", config),
        dataset_defaults=_json_object("--defaults", defaults),
        schedule=schedule or None,
        on_missing=on_missing,
    )
    with context.backends.sessions() as session:
        source = _run(create_source, session, OPERATOR, department, values, check_spec)
        click.echo(f"Added harvest source {source.id} ({source.name}) to {department}.")


@harvest.command("list")
@click.option("--department", help="Only this department's sources (slug).")
@pass_ready_context
def harvest_list(context: Context, department: str | None) -> None:
    """List the harvest sources."""
    from catalog.services.harvest import list_sources

    with context.backends.sessions() as session:
        sources = _run(list_sources, session, OPERATOR, department_slug=department)
        for source in sources:
            state = "" if source.active else "  (off)"
            click.echo(
                f"{source.id}  {source.department.slug:<16} {source.kind:<9} "
                f"{source.schedule or 'manual':<14} {source.name}{state}\n"
                f"{'':38}{source.url}"
            )
        if not sources:
            click.echo("No harvest sources.")


def _find_source(session, reference: str):
    """A source by its id, else by its name (which must then be unambiguous)."""
    from catalog.services.harvest import get_source, list_sources

    try:
        return get_source(session, OPERATOR, reference)
    except NotFound:
        pass
    named = [s for s in list_sources(session, OPERATOR) if s.name == reference]
    if not named:
        raise click.ClickException(f"No harvest source with the id or name {reference!r}.")
    if len(named) > 1:
        where = ", ".join(f"{s.id} ({s.department.slug})" for s in named)
        raise click.ClickException(f"Several sources are named {reference!r}: {where}; use an id.")
    return named[0]


@harvest.command("run")
@click.argument("source")
@click.option("--here", is_flag=True, help="Run it in this process, with a progress bar.")
@pass_ready_context
def harvest_run(context: Context, source: str, here: bool) -> None:
    """Harvest SOURCE (its id or name) now. By default the job is queued for a worker and
    its id printed; with --here it runs in this process and its counts are printed."""
    from catalog.services.harvest import request_job
    from harvesters.tasks import JobQueue

    with context.backends.sessions() as session:
        row = _find_source(session, source)
        if here:
            job = _run(request_job, session, OPERATOR, row.id)
        else:
            queue = JobQueue.from_settings(context.settings, context.backends)
            try:
                job = _run(queue.request_harvest, session, OPERATOR, row.id)
            except ConnectionError as error:
                raise click.ClickException(str(error)) from error
            click.echo(job.id)
            click.echo(
                "Queued. A worker runs it (`opendata serve` runs one, or `opendata worker`); "
                f"`opendata harvest job {job.id}` shows its report.",
                err=True,
            )
            return
    _run_here(context, job.id, row.name)


def _run_here(context: Context, job_id: str, source_name: str) -> None:
    from catalog.services.harvest import cancel_job
    from harvesters.fetch import HttpFetcher
    from harvesters.runner import run_job
    from harvesters.tasks import worker_name

    fetcher = HttpFetcher.from_settings(context.settings)
    try:
        with click.progressbar(
            itertools.count(), label=f"采集 {source_name}", show_pos=True, show_eta=False
        ) as bar:
            done = 0

            def progress(count: int) -> None:
                nonlocal done
                bar.update(max(0, count - done))
                done = max(done, count)

            job = run_job(
                context.backends,
                context.settings,
                job_id,
                fetcher=fetcher,
                worker_name=worker_name(),
                progress=progress,
            )
    except KeyboardInterrupt:
        # A job stopped by hand is not resumed by a worker later.
        with context.backends.sessions() as session:
            cancel_job(session, OPERATOR, job_id)
        raise click.ClickException(f"Interrupted; job {job_id} is cancelled.") from None
    finally:
        fetcher.close()
    click.echo(f"Job {job.id}: {job.status}; " + _counts(job))
    if job.error:
        click.echo(f"error: {job.error}")
    if job.failed:
        click.echo(f"`opendata harvest job {job.id}` lists the objects that failed.")
    if job.status != "succeeded":
        raise SystemExit(1)


def _counts(job) -> str:
    return ", ".join(f"{name} {getattr(job, name)}" for name in COUNTS)


def _is_stuck(job, now: datetime) -> bool:
    return (
        job.status == "running" and job.lease_expires_at is not None and job.lease_expires_at < now
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@harvest.command("jobs")
@click.argument("source", required=False)
@click.option("--status", type=click.Choice(JOB_STATUSES))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@pass_ready_context
def harvest_jobs(context: Context, source: str | None, status: str | None, limit: int) -> None:
    """List jobs, newest first: of SOURCE (id or name) or of every source. A running job
    whose worker stopped renewing its lease is marked STUCK."""
    from catalog.services.harvest import list_jobs

    now = datetime.now(UTC)
    with context.backends.sessions() as session:
        source_id = _find_source(session, source).id if source else None
        jobs = _run(list_jobs, session, OPERATOR, source_id=source_id, status=status, limit=limit)
        click.echo(
            f"{'job':<36}  {'status':<16} {'started (UTC)':<19}  {'finished (UTC)':<19}  "
            "created/updated/unchanged/withdrawn/failed  source"
        )
        for job in jobs:
            shown = "running STUCK" if _is_stuck(job, now) else job.status
            counts = "/".join(str(getattr(job, name)) for name in COUNTS)
            click.echo(
                f"{job.id:<36}  {shown:<16} {_when(job.started_at):<19}  "
                f"{_when(job.finished_at):<19}  {counts:<42}  {job.source.name}"
            )


@harvest.command("job")
@click.argument("job_id")
@click.option("--errors", "error_count", default=20, show_default=True, type=click.IntRange(0))
@pass_ready_context
def harvest_job(context: Context, job_id: str, error_count: int) -> None:
    """Show a job's report, with the objects it could not take and their raw payloads."""
    from catalog.services.harvest import get_job, job_errors

    now = datetime.now(UTC)
    with context.backends.sessions() as session:
        job = _run(get_job, session, OPERATOR, job_id)
        lines = [
            ("job", job.id),
            ("source", f"{job.source.name} ({job.source.id}, {job.source.department.slug})"),
            (
                "status",
                job.status
                + ("  STUCK: its worker stopped answering" if _is_stuck(job, now) else ""),
            ),
            ("trigger", job.trigger),
            ("created", _when(job.created_at)),
            ("started", _when(job.started_at)),
            ("finished", _when(job.finished_at)),
            ("worker", job.worker or "-"),
            ("lease until", _when(job.lease_expires_at)),
            ("counts", _counts(job)),
        ]
        if job.cancel_requested:
            lines.append(("cancel", "requested"))
        if job.error:
            lines.append(("error", job.error))
        for label, value in lines:
            click.echo(f"{label + ':':<13}{value}")
        errors = (
            _run(job_errors, session, OPERATOR, job_id, limit=error_count + 1)
            if error_count
            else []
        )
        for error in errors[:error_count]:
            click.echo(f"\n[{error.stage}] {error.remote_id or '-'}: {error.message}")
            if error.payload:
                payload = error.payload
                if len(payload) > PAYLOAD_SHOWN:
                    payload = payload[:PAYLOAD_SHOWN] + f"… ({len(error.payload)} characters)"
                click.echo(f"    {payload}")
        if len(errors) > error_count:
            click.echo(f"\nMore errors follow: --errors {error_count * 5} shows more.")


@harvest.command("cancel")
@click.argument("job_id")
@pass_ready_context
def harvest_cancel(context: Context, job_id: str) -> None:
    """Cancel a job: a queued one at once, a running one at its next object."""
    from catalog.services.harvest import cancel_job

    with context.backends.sessions() as session:
        job = _run(cancel_job, session, OPERATOR, job_id)
        if job.status == "cancelled":
            click.echo(f"Job {job.id} is cancelled.")
        else:
            click.echo(f"Job {job.id} is {job.status}; it stops at its next object.")

"""The ``opendata`` command: set up, load the demo, serve, manage tokens, check backends."""

import os
import sys
from datetime import timedelta

import click

from catalog.backends import Backends
from catalog.db import upgrade_database
from catalog.errors import CatalogError
from catalog.policy import Actor
from catalog.services import users
from catalog.services.departments import ensure_licenses
from catalog.vocab import Role, TokenScope
from harvesters.sources.access import configure_folder_roots
from portal.indexing import drain
from portal.settings import DECLARED, Settings, SettingsError, unknown_variables

# What the command line acts as: the operator at the machine, with every right.
OPERATOR = Actor(name="cli", sysadmin=True)


class Context:
    """Settings and backends, built on first use so `--help` needs neither."""

    def __init__(self):
        self._settings: Settings | None = None
        self._backends: Backends | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            for warning in unknown_variables(os.environ):
                click.echo(f"warning: {warning}", err=True)
            try:
                self._settings = Settings.load()
            except SettingsError as error:
                raise click.ClickException(f"bad setting: {error}") from error
            # Any command may check or run a folder harvest source.
            configure_folder_roots(self._settings.harvest_folder_roots)
        return self._settings

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            self._backends = Backends.from_settings(self.settings)
        return self._backends


pass_context = click.make_pass_decorator(Context, ensure=True)


class SettingOption(click.ParamType):
    """An option that stands in for a setting, checked as the setting is."""

    def __init__(self, setting_name: str):
        self.setting = next(setting for setting in DECLARED if setting.name == setting_name)
        self.name = setting_name

    def convert(self, value, param, ctx):
        try:
            return self.setting.parse(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.group(
    epilog="Settings come from OPENDATA_* environment variables; `opendata check` lists them."
)
def main() -> None:
    """禅城区政府数据开放平台: the open-data portal's command line."""


def _initialise(context: Context) -> None:
    from harvesters.tasks import huey_from_settings

    context.settings.instance_path.mkdir(parents=True, exist_ok=True)
    upgrade_database(context.backends.engine)
    with context.backends.sessions() as session:
        ensure_licenses(session)
        session.commit()
    # Each backend's own check creates what it needs (a folder, an index, tables), and so
    # does opening the embedded job queue: `opendata check` then finds them all.
    context.backends.object_store.check()
    context.backends.catalog_index.ensure()
    context.backends.record_store.check()
    huey_from_settings(context.settings)


@main.command()
@pass_context
def init(context: Context) -> None:
    """Create or upgrade the database, object store and instance folder (idempotent)."""
    _initialise(context)
    click.echo(f"Ready: instance folder {context.settings.instance_path}")


@main.command()
@pass_context
def demo(context: Context) -> None:
    """Load the demo catalog: 23 departments, about 300 datasets, files. Running it again
    changes nothing."""
    from catalog.demo.loader import load_demo

    _initialise(context)
    with context.backends.sessions() as session:
        report = load_demo(
            session,
            context.backends.object_store,
            context.backends.record_store,
            OPERATOR,
            progress=click.echo,
        )
    click.echo(report.summary())
    indexed = drain(context.backends)
    if indexed:
        click.echo(f"Indexed {indexed} changes for search.")


def _log_to_console() -> None:
    """Warnings of every library, and what the harvesters do, on the console."""
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("harvesters").setLevel(logging.INFO)


def _stop_queue_worker(queue_worker) -> None:
    if not queue_worker.stop():
        click.echo(
            "A harvest was still running; its job is resumed by a worker once its lease lapses."
        )


def _interrupt(_signal_number, _frame) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option(
    "--host",
    type=SettingOption("host"),
    help="Address to listen on.  [default: OPENDATA_HOST, else 127.0.0.1]",
)
@click.option(
    "--port", type=SettingOption("port"), help="Port to listen on.  [default: PORT, else 5000]"
)
@click.option("--threads", default=8, show_default=True, help="Worker threads of the server.")
@click.option(
    "--debug",
    is_flag=True,
    help="Flask's development server instead, with its in-browser debugger; no reloader "
    "(it would run the job worker twice), so code changes need a restart.",
)
@pass_context
def serve(context: Context, host: str | None, port: int | None, threads: int, debug: bool) -> None:
    """Serve the portal (waitress, a production WSGI server). With OPENDATA_EMBEDDED_WORKER
    on (the default) it also runs the job worker, so harvests run with no second command.
    Refuses an instance whose database `opendata init` has not created or upgraded."""
    import signal

    from harvesters.tasks import QueueWorker
    from portal.app import create_app
    from portal.indexing import OutboxDrainer

    host = host or context.settings.host
    port = port or context.settings.port
    ready, detail = context.backends.database_status()
    if not ready:
        raise click.ClickException(f"the catalog database cannot be served: {detail}")
    _log_to_console()
    app = create_app(context.settings, context.backends)
    drainer = OutboxDrainer(context.backends)
    queue_worker = None
    if context.settings.embedded_worker:
        queue_worker = QueueWorker(app.extensions["opendata.jobs"])
    # SIGTERM stops the server the way Ctrl-C does, so both end the worker cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    drainer.start()
    if queue_worker is not None:
        queue_worker.start()
        click.echo("Job worker running beside the web server.")
    try:
        if debug:
            app.run(host=host, port=port, debug=True, use_reloader=False)
            return
        from waitress import serve as waitress_serve

        click.echo(f"Serving {context.settings.site_name} on http://{host}:{port}/")
        waitress_serve(app, host=host, port=port, threads=threads, ident="opendata")
    finally:
        drainer.stop()
        if queue_worker is not None:
            _stop_queue_worker(queue_worker)
        click.echo("Stopped.")


@main.command()
@click.option("--interval", default=2.0, show_default=True, help="Seconds between rounds.")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Job threads."
)
@pass_context
def worker(context: Context, interval: float, workers: int) -> None:
    """Run the background work: harvest jobs and their schedules from the job queue, and
    indexing of catalog changes from the outbox. `opendata serve` runs one beside the web
    server; run this where the web tier has several processes, or on other machines."""
    import signal
    import threading

    from harvesters.tasks import JobQueue, QueueWorker
    from portal.indexing import OutboxDrainer

    _log_to_console()
    drainer = OutboxDrainer(context.backends, interval=interval)
    queue = JobQueue.from_settings(context.settings, context.backends)
    queue_worker = QueueWorker(queue, workers=workers)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    queue_shown = dict(context.settings.describe())["queue_url"]  # without its password
    click.echo(
        f"Worker running: {workers} job threads on {queue_shown}; indexing catalog changes "
        f"every {interval:g} s."
    )
    drainer.start()
    queue_worker.start()
    try:
        while not stopping.wait(1.0) and drainer.is_alive():
            pass
    except KeyboardInterrupt:
        pass
    drainer.stop()
    _stop_queue_worker(queue_worker)
    click.echo("Worker stopped.")


@main.group()
def search() -> None:
    """Look after the search index."""


@search.command("reindex")
@pass_context
def search_reindex(context: Context) -> None:
    """Rebuild the index from the catalog into a new one and swap it in; search keeps
    answering meanwhile."""
    from sqlalchemy import func, select

    from catalog.models import Dataset
    from catalog.services.search import reindex_catalog

    context.backends.catalog_index.ensure()
    with context.backends.sessions() as session:
        total = session.scalar(select(func.count()).select_from(Dataset))
        with click.progressbar(length=total, label="重建索引", show_pos=True) as bar:
            count = reindex_catalog(session, context.backends.catalog_index, bar.update)
    click.echo(f"Reindexed {count} datasets.")


@search.command("status")
@pass_context
def search_status_command(context: Context) -> None:
    """Pending changes in the outbox, and datasets in the index and in the catalog."""
    from catalog.services.search import search_status

    with context.backends.sessions() as session:
        status = search_status(session, context.backends.catalog_index)
    if status.engine_error:
        click.echo(f"index:     does not answer: {status.engine_error}")
    click.echo(f"catalog:   {status.in_catalog} datasets; index holds {status.indexed}")
    oldest = status.oldest_pending.isoformat() if status.oldest_pending else "-"
    click.echo(f"outbox:    {status.pending} pending (oldest {oldest}), {status.failing} failing")
    if status.last_error:
        click.echo(f"last error: {status.last_error}")
    if status.engine_error:
        sys.exit(1)


@search.command("synonyms")
@click.argument("terms", nargs=-1)
@click.option("--remove", "remove_id", type=int, help="Remove the synonym set with this id.")
@pass_context
def search_synonyms(context: Context, terms: tuple[str, ...], remove_id: int | None) -> None:
    """List the synonym sets, add one (`opendata search synonyms 医保 医疗保险`) or remove
    one by the id the list shows (`opendata search synonyms --remove 3`)."""
    from catalog.services.search import add_synonyms, list_synonyms, remove_synonyms

    if terms and remove_id is not None:
        raise click.UsageError("Give words to add or --remove ID, not both.")
    with context.backends.sessions() as session:
        if terms:
            _run(add_synonyms, session, OPERATOR, list(terms))
        if remove_id is not None:
            # The service removes nothing quietly when the id is unknown (DELETE is
            # idempotent); here an unknown id is most likely a typo, so say so.
            if remove_id not in {s.id for s in list_synonyms(session)}:
                raise click.ClickException(f"No synonym set {remove_id}.")
            _run(remove_synonyms, session, OPERATOR, remove_id)
        for synonym_set in list_synonyms(session):
            click.echo(f"{synonym_set.id:>4}  {' / '.join(synonym_set.terms)}")


@main.group()
def user() -> None:
    """Manage users and their department roles."""


@user.command("create")
@click.argument("name")
@click.option("--display-name", default="")
@click.option("--email", default="")
@click.option("--sysadmin", is_flag=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_context
def user_create(context, name, display_name, email, sysadmin, password) -> None:
    """Create a user who can log in to the portal."""
    with context.backends.sessions() as session:
        _run(
            users.create_user,
            session,
            OPERATOR,
            name,
            display_name=display_name,
            email=email,
            password=password,
            sysadmin=sysadmin,
        )
    click.echo(f"Created user {name}.")


@user.command("set-password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_context
def user_set_password(context, name, password) -> None:
    """Set the password a user logs in to the portal with (e.g. the demo's stewards)."""
    with context.backends.sessions() as session:
        account = _run(users.get_user, session, name)
        _run(users.set_password, session, OPERATOR, account, password)
    click.echo(f"Password of {name} set.")


@user.command("set-role")
@click.argument("name")
@click.option("--department", required=True, help="Department slug.")
@click.option("--role", type=click.Choice(Role.codes()), required=True)
@pass_context
def user_set_role(context, name, department, role) -> None:
    """Make a user a member, editor or admin of a department."""
    from catalog.services.departments import get_department

    with context.backends.sessions() as session:
        account = _run(users.get_user, session, name)
        department_row = _run(get_department, session, department)
        users.set_membership(session, OPERATOR, account, department_row, Role(role))
    click.echo(f"{name} is now {role} of {department}.")


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "user_name", required=True, help="The user the token acts as.")
@click.option("--name", default="", help="A note to tell tokens apart.")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(TokenScope.codes()),
    multiple=True,
    default=("read", "write"),
    show_default=True,
)
@click.option("--expires-days", type=click.IntRange(min=1), help="Expire after this many days.")
@pass_context
def token_create(context, user_name, name, scopes, expires_days) -> None:
    """Create an API token and print it once; only its hash is kept."""
    with context.backends.sessions() as session:
        account = _run(users.get_user, session, user_name)
        _row, text = users.create_token(
            session,
            OPERATOR,
            account,
            name=name,
            scopes=frozenset(TokenScope(s) for s in scopes),
            expires_in=timedelta(days=expires_days) if expires_days else None,
        )
    click.echo(text)


@token.command("list")
@click.option("--user", "user_name", required=True, help="Whose tokens.")
@pass_context
def token_list(context, user_name) -> None:
    """List a user's live tokens (never the tokens themselves)."""
    with context.backends.sessions() as session:
        account = _run(users.token_owner, session, OPERATOR, user_name)
        rows = _run(users.list_tokens, session, OPERATOR, account)
        headings = ("id", 36), ("prefix", 10), ("scopes", 10), ("expires", 16), ("last used", 16)
        click.echo("  ".join(f"{text:{width}}" for text, width in headings) + "  name")
        for row in rows:
            click.echo(
                f"{row.id:36}  {row.prefix:10}  {','.join(row.scopes):10}  "
                f"{_minute(row.expires_at) or 'never':16}  {_minute(row.last_used_at) or '-':16}  "
                f"{row.name}"
            )


@token.command("revoke")
@click.argument("token_id")
@pass_context
def token_revoke(context, token_id) -> None:
    """Revoke a token at once (its id from `opendata token list`)."""
    with context.backends.sessions() as session:
        _run(users.revoke_token, session, OPERATOR, token_id)
    click.echo(f"Revoked token {token_id}.")


def _minute(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


@main.command()
@pass_context
def check(context: Context) -> None:
    """Show the settings and whether each backend answers; exit 1 if one does not."""
    settings = context.settings  # a bad one stops here, before any output
    click.echo("Settings:")
    for name, value in settings.describe():
        click.echo(f"  {name:<20} {value}")
    click.echo("Backends:")
    failed = False
    for port, answers, detail in context.backends.check(settings.queue_url):
        mark = click.style("ok", fg="green") if answers else click.style("FAILED", fg="red")
        click.echo(f"  {port:<14} {mark}  {detail}")
        failed = failed or not answers
    if failed:
        sys.exit(1)


@main.command("settings")
def list_settings() -> None:
    """List every setting, its environment variable and what it does."""
    for setting in DECLARED:
        click.echo(f"{setting.variable}\n    {setting.description}")
    click.echo("OPENDATA_INSTANCE_PATH\n    Folder for the embedded database, files and search.")


def _run(service, *args, **kwargs):
    """Call a service; turn its refusal into a clear CLI error and a non-zero exit."""
    try:
        return service(*args, **kwargs)
    except CatalogError as error:
        details = "; ".join(
            f"{field}: {' '.join(messages)}"
            for field, messages in getattr(error, "fields", {}).items()
        )
        raise click.ClickException(f"{error.message} {details}".strip()) from error


# Commands that live in modules of their own, to keep this one short; they build on the
# helpers above, so they are imported after them.
from portal.cli_grants import grant  # noqa: E402
from portal.cli_harvest import harvest  # noqa: E402
from portal.cli_uploads import uploads  # noqa: E402

main.add_command(grant)
main.add_command(harvest)
main.add_command(uploads)

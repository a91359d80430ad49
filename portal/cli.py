"""The ``opendata`` command: set up, load the demo, serve, manage tokens, check backends."""

import functools
import os
import sys
from datetime import timedelta

import click
from sqlalchemy.exc import OperationalError

from catalog.backends import Backends, one_line
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
        return self.load_settings()

    def load_settings(self, generate_secret_key: bool = True) -> Settings:
        """The settings, read on the first call; `opendata check`, which must create
        nothing, reads them without generating the secret key."""
        if self._settings is None:
            for warning in unknown_variables(os.environ):
                click.echo(f"warning: {warning}", err=True)
            try:
                self._settings = Settings.load(generate_secret_key=generate_secret_key)
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


def pass_ready_context(command):
    """pass_context for a command that needs the catalog database: it first refuses, in one
    line, a database that does not answer or whose schema `opendata init` has not created
    or upgraded, instead of failing at its first query."""

    @functools.wraps(command)
    def checked(context: Context, *args, **kwargs):
        ready, detail = context.backends.database_status()
        if not ready:
            raise click.ClickException(f"the catalog database is not ready: {detail}")
        return command(context, *args, **kwargs)

    return pass_context(checked)


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
    try:
        upgrade_database(context.backends.engine)
    except OperationalError as error:  # no server, refused login, unwritable file
        raise click.ClickException(
            f"cannot open the catalog database {context.backends.database_where}: {one_line(error)}"
        ) from error
    with context.backends.sessions() as session:
        ensure_licenses(session)
        session.commit()
    # Made here, for `opendata check` (which creates nothing) to find: the object store's
    # folder and the record store's tables by their checks, the index, the embedded queue.
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


@main.group()
def search() -> None:
    """Look after the search index."""


@search.command("reindex")
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
@pass_ready_context
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
    # A bad setting stops here, before any output.
    settings = context.load_settings(generate_secret_key=False)
    click.echo("Settings:")
    for name, value in settings.describe():
        click.echo(f"  {name:<20} {value}")
    click.echo("Backends:")
    failed = False
    for port, answers, detail in context.backends.check(
        settings.queue_url, settings.rate_limit_storage_url
    ):
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
from portal.cli_serve import serve, worker  # noqa: E402
from portal.cli_uploads import uploads  # noqa: E402

main.add_command(grant)
main.add_command(harvest)
main.add_command(serve)
main.add_command(uploads)
main.add_command(worker)

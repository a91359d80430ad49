"""``opendata grant``: give a department or a user access to a dataset's data, list and
revoke grants.

The command line acts as the operator (a sysadmin), like the other admin commands. Dates
are the district's (China Standard Time): ``--expires 2025-12-31`` gives access through
that day.
"""

from datetime import datetime, time, timedelta, timezone

import click

from catalog.services.grants import create_grant, list_grants, revoke_grant
from portal.cli import OPERATOR, Context, _run, pass_ready_context

CHINA_TIME = timezone(timedelta(hours=8), "CST")


def _end_of_day(day: datetime) -> datetime:
    """The first moment after ``day`` in China Standard Time, when access ends."""
    return datetime.combine(day.date() + timedelta(days=1), time(), tzinfo=CHINA_TIME)


def _china_minute(moment: datetime | None) -> str:
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if moment else ""


@click.group()
def grant() -> None:
    """Access to datasets' data (有条件开放 / 有条件共享) given to departments or users."""


@grant.command("add")
@click.argument("dataset")
@click.option("--department", help="Slug of the department to give access.")
@click.option("--user", help="Name of the user to give access.")
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Last day of access, China time; default: never expires.",
)
@click.option("--reason", default="", help="Why, e.g. the number of the approved request.")
@pass_ready_context
def grant_add(context: Context, dataset, department, user, expires, reason) -> None:
    """Give a department or a user access to DATASET's data.

    DATASET is the dataset's slug; name one of --department and --user.
    """
    with context.backends.sessions() as session:
        row = _run(
            create_grant,
            session,
            OPERATOR,
            dataset,
            department=department,
            user=user,
            expires_at=_end_of_day(expires) if expires else None,
            reason=reason,
        )
    until = f" until {_china_minute(row.expires_at)} (UTC+8)" if row.expires_at else ""
    grantee = row.department or row.user
    click.echo(f"Granted {grantee} access to {row.dataset}{until}. Grant id: {row.id}")


@grant.command("list")
@click.argument("dataset")
@pass_ready_context
def grant_list(context: Context, dataset) -> None:
    """List DATASET's grants, live and expired, newest first."""
    with context.backends.sessions() as session:
        rows = _run(list_grants, session, OPERATOR, dataset)
    if not rows:
        click.echo(f"No grants on {dataset}.")
        return
    click.echo(f"{'id':36}  {'grantee':24}  {'expires (UTC+8)':16}  {'state':7}  reason")
    for row in rows:
        grantee = f"department {row.department}" if row.department else f"user {row.user}"
        state = "live" if row.active else "expired"
        expires = _china_minute(row.expires_at) or "never"
        click.echo(f"{row.id:36}  {grantee:24}  {expires:16}  {state:7}  {row.reason}")


@grant.command("revoke")
@click.argument("grant_id")
@pass_ready_context
def grant_revoke(context: Context, grant_id) -> None:
    """Revoke a grant (its id from `opendata grant list`) at once."""
    with context.backends.sessions() as session:
        _run(revoke_grant, session, OPERATOR, grant_id)
    click.echo(f"Revoked grant {grant_id}.")

"""``opendata uploads``: housekeeping of steward uploads.

Staged uploads wait a day for their steward's confirmation (catalog.services.uploads);
``opendata uploads clean`` deletes those nobody confirmed, and multipart uploads left
unfinished as long. Run it daily, from cron or a systemd timer.
"""

from datetime import UTC, datetime

import click

from catalog.services.uploads import remove_stale_uploads
from portal.cli import Context, pass_context


@click.group()
def uploads() -> None:
    """Steward uploads waiting for confirmation."""


@uploads.command("clean")
@pass_context
def clean(context: Context) -> None:
    """Delete staged uploads whose confirmation time has passed."""
    removed = remove_stale_uploads(context.backends.object_store, datetime.now(UTC))
    click.echo(f"Removed {removed} staged upload objects and unfinished multipart uploads.")

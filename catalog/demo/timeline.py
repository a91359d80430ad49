"""When each demo dataset was created and last changed, fixed in the demo's data.

Times count back from the demo's reference time (``reference_time`` in ``data/site.json``),
never from "now", so two loads on different days give the same catalog. A dataset was
created on its release date during office hours, and last changed within one update
period before the reference time (a 每月 dataset within the last month, a 每年 one within
the year), never before it was created. Where in the day or period falls is drawn from the
dataset's slug, so it stays put.
"""

import hashlib
from datetime import UTC, date, datetime, time, timedelta

UPDATE_PERIODS = {
    "realtime": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "quarterly": timedelta(days=92),
    "semiannual": timedelta(days=183),
    "annual": timedelta(days=365),
    "other": timedelta(days=730),  # changed now and then: within two years
}
OFFICE_OPENS = time(9, 0)
OFFICE_MINUTES = 8 * 60


def _fraction(slug: str, purpose: str) -> float:
    """A number in [0, 1) that depends only on the slug and what it is for."""
    digest = hashlib.sha256(f"{slug}#{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def created_at(slug: str, release_date: date, reference: datetime) -> datetime:
    """The release date, at a minute of office hours in the reference time's zone."""
    opens = datetime.combine(release_date, OFFICE_OPENS, tzinfo=reference.tzinfo)
    minutes = int(_fraction(slug, "created") * OFFICE_MINUTES)
    return (opens + timedelta(minutes=minutes)).astimezone(UTC)


def modified_at(
    slug: str, update_frequency: str, created: datetime, reference: datetime
) -> datetime:
    """A whole second within one update period before the reference time, not before
    ``created``."""
    back = UPDATE_PERIODS.get(update_frequency, UPDATE_PERIODS["other"])
    seconds = int(_fraction(slug, "modified") * back.total_seconds())
    return max(created, (reference - timedelta(seconds=seconds)).astimezone(UTC))


def granted_at(granted_on: date, reference: datetime) -> datetime:
    """When a demo grant was given: its day, at the office's opening."""
    return datetime.combine(granted_on, OFFICE_OPENS, tzinfo=reference.tzinfo).astimezone(UTC)

"""What a harvest source must be before it is saved: its values as a steward gives them,
and the checks of each (the kind, URL and options by the caller's ``CheckSpec``; the
schedule as huey's crontab reads it; the dataset defaults against the catalog's lists)."""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from huey.api import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import InvalidInput
from catalog.models import HarvestSource, License, Theme
from catalog.vocab import DatasetState, OpenType, ShareType, UpdateFrequency

# (kind, url, config) -> field errors ({} when the source type takes them).
CheckSpec = Callable[[str, str, Mapping], dict[str, list[str]]]

ON_MISSING = ("withdraw", "keep")
DEFAULT_VOCABULARIES = {
    "open_type": OpenType,
    "share_type": ShareType,
    "state": DatasetState,
    "update_frequency": UpdateFrequency,
}
DEFAULT_KEYS = (*DEFAULT_VOCABULARIES, "themes", "license_id")
# Cron fields as huey reads them (huey.api.crontab), in the order a schedule writes them.
SCHEDULE_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_REVERSED_RANGE = re.compile(r"(\d+)-(\d+)")


@dataclass(frozen=True)
class SourceValues:
    """A harvest source as a steward gives it (see HarvestSource for each field)."""

    name: str
    kind: str
    url: str
    config: dict = field(default_factory=dict)
    dataset_defaults: dict = field(default_factory=dict)
    schedule: str | None = None
    on_missing: str = "withdraw"
    active: bool = True


SOURCE_FIELDS = tuple(f.name for f in fields(SourceValues))


def check_schedule(expression: str) -> str:
    """The five-field cron expression (minute hour day month weekday, UTC) with single
    spaces, as huey's crontab reads it; ValueError says what is wrong."""
    parts = expression.split()
    if len(parts) != len(SCHEDULE_FIELDS):
        raise ValueError("Give five fields: minute hour day month weekday, e.g. '0 2 * * *'.")
    for low, high in _REVERSED_RANGE.findall(expression):
        if int(low) > int(high):
            raise ValueError(f"The range {low}-{high} runs backwards.")
    try:
        crontab(*parts, strict=True)
    except ValueError as error:
        raise ValueError(f"Not a schedule huey can run: {error}.") from None
    return " ".join(parts)


def validated_source(
    session: Session,
    department_id: str,
    source_id: str | None,
    values: SourceValues,
    check_spec: CheckSpec,
    check_kind: bool,
) -> dict[str, Any]:
    """The source's values checked and normalised, as HarvestSource columns; InvalidInput
    with every field error. ``check_kind`` asks ``check_spec`` (on creation, and when the
    kind, URL or options change)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, limit in (("name", 200), ("kind", 50), ("url", 2000)):
        value = getattr(values, name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = ["This field is required."]
        elif len(value.strip()) > limit:
            errors[name] = [f"Use at most {limit} characters."]
        else:
            cleaned[name] = value.strip()
    if "url" in cleaned and _has_password(cleaned["url"]):
        errors["url"] = [
            "Do not put a password in the URL: name an OPENDATA_HARVEST_SECRET_* environment "
            "variable in the options instead."
        ]
    if "name" in cleaned and session.scalar(
        select(HarvestSource.id).where(
            HarvestSource.department_id == department_id,
            HarvestSource.name == cleaned["name"],
            HarvestSource.id != source_id,
        )
    ):
        errors["name"] = ["The department has another harvest source of this name."]
    config = values.config
    if not isinstance(config, Mapping) or not _is_json(config):
        errors["config"] = ["Give the options as a JSON object."]
    else:
        cleaned["config"] = dict(config)
    if check_kind and not errors.keys() & {"kind", "url", "config"}:
        spec_errors = check_spec(cleaned["kind"], cleaned["url"], cleaned["config"])
        for name, messages in spec_errors.items():
            errors.setdefault(name, []).extend(messages)
    defaults, default_errors = _checked_defaults(session, values.dataset_defaults)
    errors.update(default_errors)
    cleaned["dataset_defaults"] = defaults
    schedule = values.schedule
    if schedule is None or (isinstance(schedule, str) and not schedule.strip()):
        cleaned["schedule"] = None
    elif not isinstance(schedule, str):
        errors["schedule"] = ["Give a five-field cron expression, e.g. '0 2 * * *'."]
    else:
        try:
            cleaned["schedule"] = check_schedule(schedule)
        except ValueError as error:
            errors["schedule"] = [str(error)]
    if values.on_missing not in ON_MISSING:
        errors["on_missing"] = [f"Use one of {', '.join(ON_MISSING)}."]
    cleaned["on_missing"] = values.on_missing
    if not isinstance(values.active, bool):
        errors["active"] = ["Give true or false."]
    cleaned["active"] = values.active
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    return cleaned


def _checked_defaults(
    session: Session, defaults: object
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The dataset defaults with vocabulary labels turned into codes, and field errors
    named ``dataset_defaults.<key>``."""
    if not isinstance(defaults, Mapping):
        return {}, {"dataset_defaults": ["Give the dataset defaults as a JSON object."]}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in defaults.items():
        name = f"dataset_defaults.{key}"
        if key in DEFAULT_VOCABULARIES:
            try:
                cleaned[key] = DEFAULT_VOCABULARIES[key].from_code_or_label(str(value)).value
            except ValueError as error:
                errors[name] = [str(error)]
        elif key == "license_id":
            if not isinstance(value, str) or session.get(License, value) is None:
                errors[name] = [f"Unknown licence {value!r}."]
            else:
                cleaned[key] = value
        elif key == "themes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = ["Give a list of theme slugs."]
                continue
            known = set(session.scalars(select(Theme.slug).where(Theme.slug.in_(value))))
            missing = sorted(set(value) - known)
            if missing:
                errors[name] = [f"Unknown themes: {', '.join(missing)}."]
            cleaned[key] = sorted(set(value))
        else:
            errors[name] = [f"Not a dataset default; use {', '.join(DEFAULT_KEYS)}."]
    return cleaned, errors


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _is_json(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True

"""CKAN package and resource dicts -> the values the catalog's services take.

What CKAN says and what the catalog keeps:

- name -> slug, notes -> description, owner_org (id or name) -> department, groups ->
  themes, tags (or tag_string) -> tags, license_id -> licence, maintainer / author and their
  e-mails -> the contact point, state active / draft / deleted -> published / draft / withdrawn;
- the government catalog's fields come as extras (or as top-level keys); other extras are
  kept in the dataset's free extras;
- ``private`` has no column: the open and share types decide who sees a dataset. When those
  are not given, private=true means 不予开放 + 不予共享 (only the department) and
  private=false 无条件开放 + 无条件共享; on an update it applies only if it changes what
  the dataset is now, so a round trip of package_show never widens access.
"""

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy.orm import Session

from api.ckan import params
from api.ckan.dictize import GOVERNMENT_EXTRAS, is_private
from catalog.errors import InvalidInput, NotFound
from catalog.models import Dataset
from catalog.services.datasets import DatasetValues
from catalog.services.departments import get_department, list_themes
from catalog.services.resources import ResourceValues

STATES = {"active": "published", "draft": "draft", "deleted": "withdrawn"}
PRIVATE_TYPES = {True: ("not_open", "not_shared"), False: ("unconditional", "unconditional")}


def cleared_on_update() -> dict[str, Any]:
    """What a package_update empties when the CKAN field is left out (package_patch keeps
    it), as new objects each time."""
    return {
        "description": "",
        "version": "",
        "license": None,
        "contact_name": "",
        "contact_email": "",
        "tags": [],
        "themes": [],
        "extras": {},
    }


# The service's field names as CKAN calls them, for Validation Errors.
CKAN_NAMES = {
    "slug": "name",
    "description": "notes",
    "department": "owner_org",
    "themes": "groups",
    "license": "license_id",
    "contact_name": "maintainer",
    "contact_email": "maintainer_email",
}


# A steward upload's field names as resource_create calls them: the file is ``upload``.
CKAN_UPLOAD_NAMES = {"file": "upload", "file_name": "upload"}


def ckan_validation_error(
    error: InvalidInput, names: Mapping[str, str] = CKAN_NAMES
) -> InvalidInput:
    """The same errors under CKAN's field names."""
    fields: dict[str, list[str]] = {}
    for name, messages in error.fields.items():
        fields.setdefault(names.get(name, name), []).extend(messages)
    return InvalidInput(fields, error.message)


def dataset_values(
    session: Session, data: dict[str, Any], dataset: Dataset | None, clear_missing: bool
) -> DatasetValues:
    """Values for create_dataset (dataset None) or update_dataset. ``clear_missing`` is
    package_update's rule: CKAN fields left out are emptied."""
    errors: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    if clear_missing:
        given.update(cleared_on_update())
    _core_fields(session, data, given, errors)
    _extras(data, given, errors, replace_free_extras=clear_missing or "extras" in data)
    if data.get("private") is not None:
        _privacy(params.boolean(data, "private"), given, dataset)
    if dataset is None:
        given.setdefault("state", "published")
        if not {"open_type", "share_type"} <= given.keys():
            errors["private"] = [
                "Missing value: give private, or the extras open_type and share_type "
                "(开放类型, 共享类型)."
            ]
    if errors:
        raise InvalidInput(errors)
    if dataset is not None and "extras" in given:
        # A free extra named like a catalog column never reaches a CKAN client (the column
        # is shown under that key), so the client cannot send it back: keep it.
        hidden = {k: v for k, v in (dataset.extras or {}).items() if k in GOVERNMENT_EXTRAS}
        given["extras"] = {**hidden, **given["extras"]}
    return DatasetValues(**given)


def _core_fields(session, data, given, errors) -> None:
    plain = {"name": "slug", "title": "title", "notes": "description", "version": "version"}
    for ckan_name, name in plain.items():
        if ckan_name in data:
            given[name] = params.text(data, ckan_name).strip()
    if "license_id" in data:
        given["license"] = params.text(data, "license_id").strip() or None
    # One contact point: the maintainer, else the author (package_show gives both).
    for name, ckan_names in (
        ("contact_name", ("maintainer", "author")),
        ("contact_email", ("maintainer_email", "author_email")),
    ):
        if any(ckan_name in data for ckan_name in ckan_names):
            values = [params.text(data, ckan_name).strip() for ckan_name in ckan_names]
            given[name] = next((value for value in values if value), "")
    email = given.get("contact_email")
    if email:
        try:
            Email(error="Email {input} is not a valid format")(email)
        except ValidationError as error:
            errors["maintainer_email"] = error.messages
    if "owner_org" in data:
        try:
            given["department"] = get_department(session, params.text(data, "owner_org")).slug
        except NotFound:
            errors["owner_org"] = ["Organization does not exist"]
    if "tags" in data:
        given["tags"] = params.name_list(data, "tags")
    elif "tag_string" in data:
        given["tags"] = [t.strip() for t in params.text(data, "tag_string").split(",") if t]
    if "groups" in data:
        slugs = {theme.id: theme.slug for theme in list_themes(session)}
        given["themes"] = [slugs.get(name, name) for name in params.name_list(data, "groups")]
    if "state" in data:
        state = params.text(data, "state")
        if state not in STATES:
            errors["state"] = [f"Use one of {', '.join(STATES)}."]
        else:
            given["state"] = STATES[state]


def _extras(data, given, errors, replace_free_extras: bool) -> None:
    # The catalog's fields may also come as top-level keys (ckanext-scheming's way).
    pairs: dict[str, Any] = {name: data[name] for name in GOVERNMENT_EXTRAS if name in data}
    extras = data.get("extras")
    if extras is not None and not isinstance(extras, list):
        errors["extras"] = ["Must be a list of {key, value}."]
        extras = []
    free: dict[str, Any] = {}
    for item in extras or []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            errors["extras"] = ["Each extra needs a key and a value."]
            continue
        key, value = item["key"], item.get("value")
        if key in pairs and pairs[key] != value:
            errors[key] = ["Given twice, with different values."]
        if key in GOVERNMENT_EXTRAS:
            pairs[key] = value
        else:
            free[key] = value
    for name, value in pairs.items():
        try:
            given[name] = _read_extra(GOVERNMENT_EXTRAS[name], value)
        except ValueError as error:
            errors[name] = [str(error)]
    if replace_free_extras:
        given["extras"] = free


def _read_extra(kind: str, value: Any) -> Any:
    if isinstance(value, list) and kind == "list":
        return [str(item) for item in value]
    if value is not None and not isinstance(value, str | int | float):
        raise ValueError("Must be a string.")
    text = "" if value is None else str(value).strip()
    if kind == "optional_text":
        return text or None
    if kind == "date":
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError("Date format incorrect: use YYYY-MM-DD.") from None
    if kind == "list":
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("Give a JSON list or comma-separated codes.") from None
            return [str(item) for item in items]
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _privacy(private: bool, given: dict[str, Any], dataset: Dataset | None) -> None:
    if "open_type" in given or "share_type" in given:
        return  # the precise classification wins over CKAN's coarse flag
    if dataset is not None and is_private(dataset) == private:
        return
    given["open_type"], given["share_type"] = PRIVATE_TYPES[private]


def resource_values(data: dict[str, Any], file_name: str | None, media_type: str) -> ResourceValues:
    """A resource_create's fields; a link when no file comes with them."""
    url = None if file_name is not None else params.text(data, "url").strip()
    if file_name is None and not url:
        raise InvalidInput({"url": ["Missing value: give a url or an upload."]})
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput({"url": ["Links must be http:// or https:// URLs."]})
    name = params.text(data, "name").strip() or _last_part(file_name or url or "")
    file_format = params.text(data, "format").strip() or _extension(file_name or url or "")
    return ResourceValues(
        name=name,
        format=file_format,
        media_type=params.text(data, "mimetype").strip() or media_type,
        description=params.text(data, "description"),
        url=url,
    )


def link_resources(data: dict[str, Any]) -> list[ResourceValues]:
    """The link resources a package_create may carry (files come by resource_create)."""
    given = data.get("resources") or []
    if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
        raise InvalidInput({"resources": ["Must be a list of resource dicts."]})
    values = []
    for position, item in enumerate(given):
        try:
            values.append(resource_values(item, None, ""))
        except InvalidInput as error:
            messages = [
                f"Resource {position + 1}, {field}: {message}"
                for field, field_messages in error.fields.items()
                for message in field_messages
            ]
            raise InvalidInput({"resources": messages}) from None
    return values


def _last_part(address: str) -> str:
    return address.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "data"


def _extension(address: str) -> str:
    name = _last_part(address)
    return name.rsplit(".", 1)[-1].upper() if "." in name else ""

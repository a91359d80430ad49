"""CKAN's parameters: the same action is called with a JSON body (typed values) and with a
query string (every value a string), so each reader accepts both and names the parameter
in its Validation Error."""

import json
from typing import Any

from catalog.errors import InvalidInput

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})


def invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput({name: [message]})


def text(params: dict[str, Any], name: str, default: str = "") -> str:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool | int | float):
        return str(value)
    if not isinstance(value, str):
        raise invalid(name, "Must be a string.")
    return value


def required_text(params: dict[str, Any], name: str) -> str:
    value = text(params, name).strip()
    if not value:
        raise invalid(name, "Missing value")
    return value


def integer(
    params: dict[str, Any], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer parameter; values above ``maximum`` are cut to it, as CKAN does."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(name, "Invalid integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(name, "Invalid integer") from None
    if number < minimum:
        raise invalid(name, f"Must be a natural number of at least {minimum}")
    return number if maximum is None else min(number, maximum)


def boolean(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise invalid(name, "Must be true or false.")


def json_value(params: dict[str, Any], name: str) -> Any:
    """A parameter that is JSON in a query string and already decoded in a JSON body."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as error:
            raise invalid(name, f"Not valid JSON: {error.msg}.") from None
    return value


def string_list(params: dict[str, Any], name: str) -> list[str]:
    """A list of strings: a JSON list, a repeated query parameter, or one plain string."""
    value = params.get(name)
    if isinstance(value, str) and not value.strip().startswith("["):
        value = [value] if value.strip() else []
    elif isinstance(value, str):
        value = json_value(params, name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(name, "Must be a list of strings.")
    return value


def name_list(params: dict[str, Any], name: str) -> list[str]:
    """A list of names: strings or {"name": ...} / {"id": ...} dicts, as CKAN takes tags and
    groups."""
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(name, "Must be a list.")
    names = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("name") or item.get("id")
        if not isinstance(item, str) or not item.strip():
            raise invalid(name, "Each item needs a name.")
        names.append(item.strip())
    return names

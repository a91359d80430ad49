"""The options (``SourceSpec.config``) a source type takes, checked before a source is saved.

Each source type declares its options once, name -> type; ``option_errors`` refuses unknown
names (a typo such as ``patern`` would otherwise be ignored silently) and values of the
wrong type, with field errors keyed ``config.<name>``.
"""

from collections.abc import Mapping
from typing import Any

_TYPE_NAMES = {str: "text", bool: "true or false", int: "a whole number"}


def option_errors(config: Mapping[str, Any], declared: Mapping[str, type]) -> dict[str, list[str]]:
    """Field errors of ``config`` against the ``declared`` options ({} when it is fine)."""
    if not isinstance(config, Mapping):
        return {"config": ["The options must be an object of names and values."]}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(config) - set(declared))
    if unknown:
        errors["config"] = [
            f"Unknown options: {', '.join(unknown)}; this source type takes "
            f"{', '.join(sorted(declared)) or 'none'}."
        ]
    for name, kind in declared.items():
        value = config.get(name)
        # bool is an int in Python, but true is no page size.
        wrong = value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        )
        if wrong:
            errors[f"config.{name}"] = [f"Must be {_TYPE_NAMES[kind]}."]
    return errors

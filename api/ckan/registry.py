"""The actions the Action API knows, and the errors CKAN reports outside the catalog's own."""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActionFunction:
    name: str
    function: Callable[[dict[str, Any]], Any]
    # CKAN's word for a read: callable with GET and a query string, as well as POST.
    side_effect_free: bool

    @property
    def help(self) -> str:
        return inspect.getdoc(self.function) or ""


ACTIONS: dict[str, ActionFunction] = {}


def action(side_effect_free: bool):
    """Register the decorated function as the action of its name; its docstring is what
    help_show answers."""

    def register(function: Callable[[dict[str, Any]], Any]):
        ACTIONS[function.__name__] = ActionFunction(function.__name__, function, side_effect_free)
        return function

    return register


class BadRequest(Exception):
    """A request CKAN answers with 400 and a bare JSON string: "Bad request - <detail>"."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class SearchQueryError(Exception):
    """An fq or q that cannot be understood (CKAN's 400 "Search Query Error")."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

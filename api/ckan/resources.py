"""The Action API's one endpoint, answering in CKAN's envelope.

    {"help": ".../api/3/action/help_show?name=<action>", "success": true, "result": ...}
    {"help": ..., "success": false, "error": {"__type": "Not Found Error", "message": ...}}

Statuses as CKAN gives them: 404 Not Found Error, 403 Authorization Error, 409 Validation
Error (the field errors beside "__type"), 400 Search Query Error, and 400 with a bare JSON
string ("Bad request - ...") for an unknown action or a body that is not a JSON object.

Callers authenticate as CKAN clients do: the API token in ``Authorization`` (bare, or
after "Bearer") or in ``X-CKAN-API-Key``. A browser session counts only for reads sent
with GET: the API is exempt from CSRF tokens, so a cookie must never authorise a write.
"""

import json
from typing import Any

from flask import Blueprint, current_app, g, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from api.ckan import read, write  # noqa: F401 - importing them registers their actions
from api.ckan.registry import ACTIONS, ActionFunction, BadRequest, SearchQueryError
from api.context import current_actor, db
from catalog.errors import (
    CatalogError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from catalog.services.users import actor_for_token

blp = Blueprint("ckan_action", __name__)

# A JSON body is parameters, not a file: it is read whole, so it is kept small.
MAX_JSON_BYTES = 16 * 1024 * 1024
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
POST_ONLY = "JSON Error: Invalid request. Please use POST method for your request"


def _respond(status: int, body: Any):
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    response.vary.update(("Authorization", "X-CKAN-API-Key", "Cookie"))
    if request.headers.get("Authorization") or request.headers.get("X-CKAN-API-Key"):
        response.cache_control.private = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _help_url(name: str) -> str:
    return url_for("ckan_action.action", logic_function="help_show", name=name, _external=True)


def _failure(name: str, status: int, error: dict[str, Any]):
    return _respond(status, {"help": _help_url(name), "success": False, "error": error})


def _catalog_failure(name: str, error: CatalogError):
    if isinstance(error, NotFound):
        return _failure(name, 404, {"__type": "Not Found Error", "message": f"Not found: {error}"})
    if isinstance(error, Unauthorized | Forbidden):
        message = f"Access denied: {error}"
        return _failure(name, 403, {"__type": "Authorization Error", "message": message})
    if isinstance(error, InvalidInput):
        return _failure(name, 409, {**error.fields, "__type": "Validation Error"})
    # A Conflict (a clash with the current state) is a Validation Error in CKAN's words.
    return _failure(name, 409, {"message": [str(error)], "__type": "Validation Error"})


def _mixed(values: MultiDict) -> dict[str, Any]:
    """A parameter given once is a string, one given several times a list (CKAN's rule)."""
    return {key: v[0] if len(v) == 1 else v for key, v in values.to_dict(flat=False).items()}


def _request_data(function: ActionFunction) -> dict[str, Any]:
    if request.method == "GET":
        if not function.side_effect_free:
            raise BadRequest(POST_ONLY)
        return _mixed(request.args)
    if request.mimetype in FORM_TYPES:
        data = _mixed(request.form)
        # A file arrives as werkzeug's FileStorage, spooled to disk past 500 KB.
        data.update(request.files.to_dict())
        return data
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise BadRequest(f"JSON Error: the body is larger than {MAX_JSON_BYTES} bytes")
    body = request.stream.read(MAX_JSON_BYTES + 1)
    if len(body) > MAX_JSON_BYTES:
        raise BadRequest(f"JSON Error: the body is larger than {MAX_JSON_BYTES} bytes")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"JSON Error: Error decoding JSON data. Error: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"JSON Error: Request data JSON decoded to {type(data).__name__} but it needs "
            "to be a dictionary."
        )
    return data


def _api_token() -> str | None:
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, rest = header.partition(" ")
        if not rest:
            return scheme  # CKAN clients send the bare token
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip()
        raise Unauthorized("Send the API token as 'Authorization: <token>' or 'Bearer <token>'.")
    return request.headers.get("X-CKAN-API-Key", "").strip() or None


def _identify_caller(function: ActionFunction) -> None:
    token = _api_token()
    if token:
        g.actor = actor_for_token(db(), token)
    actor = current_actor()
    if function.side_effect_free:
        return
    # Fail fast for callers who can change nothing; the services check each change again.
    if not actor.is_authenticated:
        raise Unauthorized("Send an API token (Authorization header) to change the catalog.")
    if "write" not in actor.scopes:
        raise Forbidden("This token may only read; use a token with the write scope.")


@blp.route("/api/action/<logic_function>", methods=["GET", "POST"])
@blp.route("/api/3/action/<logic_function>", methods=["GET", "POST"])
def action(logic_function: str):
    """Run one CKAN action (see help_show for each) and answer in CKAN's envelope."""
    function = ACTIONS.get(logic_function)
    if function is None:
        return _respond(400, f"Bad request - Action name not known: {logic_function[:100]}")
    try:
        data = _request_data(function)
        _identify_caller(function)
        result = function.function(data)
    except BadRequest as error:
        return _respond(400, f"Bad request - {error.detail}")
    except RequestEntityTooLarge:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"The request is larger than the portal takes ({limit} bytes)."
        return _failure(logic_function, 409, {"upload": [message], "__type": "Validation Error"})
    except HTTPException as error:
        return _respond(400, f"Bad request - {error.description}")
    except SearchQueryError as error:
        message = f"Search Query is invalid: {error.message}"
        return _failure(logic_function, 400, {"__type": "Search Query Error", "message": message})
    except CatalogError as error:
        return _catalog_failure(logic_function, error)
    return _respond(200, {"help": _help_url(logic_function), "success": True, "result": result})


@blp.errorhandler(InternalServerError)
def internal_error(_error):
    name = (request.view_args or {}).get("logic_function", "")
    return _failure(
        name, 500, {"__type": "Internal Server Error", "message": "Internal Server Error"}
    )

"""Input refused before any endpoint sees it: NUL characters, which PostgreSQL cannot store.

The REST API (/api/v1) answers in its problem-details shape; every other path (pages, the
CKAN-compatible /api/3, DCAT and data.json) with a plain HTTP error that its own error
handlers render (an HTML page, CKAN's envelope).
"""

import json

from flask import abort, request

from api.errors import problem

REST_PREFIX = "/api/v1/"
NUL = "\x00"
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed."


def refuse_nul_characters():
    """Refuse a NUL character in the path, the query or a JSON body.

    PostgreSQL stores none, in text or in JSON, so such input would otherwise fail at the
    database as a 500. No identifier holds one, so in the path it is a 404; elsewhere a
    422 naming where it was.
    """
    if not request.path.startswith(REST_PREFIX):
        if NUL in request.path:
            abort(404)
        if b"%00" in request.query_string or b"\x00" in request.query_string:
            abort(400, NUL_MESSAGE)
        return None
    if NUL in request.path:
        return problem(404, "Not found: no identifier contains a NUL character.")
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        return problem(422, "The request has invalid fields: query.", {"query": [NUL_MESSAGE]})
    # JSON bodies are small (uploads are multipart): reading one here is cheap, and the
    # endpoint's parser reuses the cached bytes.
    if request.is_json and b"\\u0000" in request.get_data(cache=True):
        try:
            body = json.loads(request.get_data(cache=True))
        except ValueError:
            return None  # not JSON at all: the endpoint's parser says so
        if _holds_nul(body):
            return problem(422, "The request has invalid fields: json.", {"json": [NUL_MESSAGE]})
    return None


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False

"""One JSON shape for every API error (RFC 9457 problem details, plus field errors)."""

from http import HTTPStatus

from flask import jsonify

from catalog.errors import (
    CatalogError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)

STATUS_OF = {
    NotFound: HTTPStatus.NOT_FOUND,
    Forbidden: HTTPStatus.FORBIDDEN,
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    Conflict: HTTPStatus.CONFLICT,
    InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
}


def problem(status: int, detail: str, errors: dict | None = None):
    """A problem-details response: ``{"status", "title", "detail", "errors"?}``."""
    body = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    if status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="opendata"'
    return response


def catalog_error_response(error: CatalogError):
    status = STATUS_OF.get(type(error), HTTPStatus.BAD_REQUEST)
    return problem(status, error.message, getattr(error, "fields", None))

"""The OpenAPI document's error responses: every operation declares the problem-details
errors it may answer, so a client (and schemathesis) can hold the API to them."""

from http import HTTPStatus

from apispec import BasePlugin
from marshmallow import Schema, fields

PROBLEM_MEDIA_TYPE = "application/problem+json"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

DESCRIPTIONS = {
    HTTPStatus.BAD_REQUEST: "The request cannot be read (a body that is not JSON, ...).",
    HTTPStatus.UNAUTHORIZED: "The bearer token is unknown, expired or revoked, or this "
    "action needs one.",
    HTTPStatus.FORBIDDEN: "The caller may see this but not do this: a read-only token, "
    "another department's dataset, conditional data (apply to the department for access).",
    HTTPStatus.NOT_FOUND: "No such object, or the caller may not know that it exists.",
    HTTPStatus.CONFLICT: "The change clashes with the catalog as it is (a taken slug, ...).",
    HTTPStatus.PRECONDITION_FAILED: "The object has changed since the given ETag.",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the portal accepts.",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The body is not JSON: send it with Content-Type: "
    "application/json.",
    HTTPStatus.PRECONDITION_REQUIRED: "Send If-Match with the ETag of the object.",
    HTTPStatus.UNPROCESSABLE_ENTITY: "Invalid fields: `errors` names each with its messages.",
    HTTPStatus.TOO_MANY_REQUESTS: "Over the rate limit of the token (or of the address, "
    "without one); wait for the seconds in Retry-After.",
}
EVERY_OPERATION = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.UNPROCESSABLE_ENTITY,
    HTTPStatus.TOO_MANY_REQUESTS,
)
WRITE_OPERATIONS = (HTTPStatus.CONFLICT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
RATE_LIMIT_HEADERS = {
    "Retry-After": "Seconds to wait before the next request.",
    "X-RateLimit-Limit": "Requests allowed in the current window (sent on every answer).",
    "X-RateLimit-Remaining": "Requests left in the current window (sent on every answer).",
    "X-RateLimit-Reset": "When the window ends, in seconds since 1970 (on every answer).",
}


class ProblemSchema(Schema):
    """An error (RFC 9457 problem details), as api.errors.problem writes it."""

    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    title = fields.String(required=True, metadata={"description": "The status's phrase."})
    detail = fields.String(
        required=True, metadata={"description": "What went wrong, for a person to read."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "By field (or location): its messages, for invalid input."},
    )


def response_name(status: HTTPStatus) -> str:
    return f"Problem{int(status)}"


class ProblemResponses(BasePlugin):
    """An apispec plugin: declares the problem-details responses on each operation and
    gives the ones flask-smorest adds (422 for arguments, 412/428 for ETags) that shape."""

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        spec.components.schema("Problem", schema=ProblemSchema)
        for status, description in DESCRIPTIONS.items():
            response = {
                "description": description,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": ProblemSchema}},
            }
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                response["headers"] = {
                    name: {"description": text, "schema": {"type": "integer"}}
                    for name, text in RATE_LIMIT_HEADERS.items()
                }
            spec.components.response(response_name(status), response, lazy=True)

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                if not str(code).isdigit() or int(code) < 400:
                    continue
                del responses[code]
                responses[str(int(code))] = self._problem(HTTPStatus(int(code)), response)
            declared = EVERY_OPERATION + (WRITE_OPERATIONS if method in WRITE_METHODS else ())
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                declared += (HTTPStatus.UNSUPPORTED_MEDIA_TYPE,)
            for status in declared:
                responses.setdefault(str(int(status)), response_name(status))

    @staticmethod
    def _problem(status: HTTPStatus, given):
        """A reference to our response for the status, or the endpoint's own description
        of it with the problem body added."""
        if isinstance(given, dict) and given.get("description"):
            content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            return {**given, "content": given.get("content") or content}
        if status in DESCRIPTIONS:
            return response_name(status)
        return {
            "description": status.phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }

"""The developer API: REST v1 under /api/v1 (flask-smorest, OpenAPI 3)."""

from http import HTTPStatus

from flask import Flask, request
from flask_smorest import Api as BaseApi
from flask_smorest import Blueprint as BaseBlueprint
from werkzeug.exceptions import HTTPException

from api.errors import catalog_error_response, problem
from api.guards import refuse_nul_characters
from api.openapi import ProblemResponses, ProblemSchema
from api.parsing import ArgumentsParser
from catalog.errors import CatalogError

API_PREFIX = "/api/v1"
API_DOCS_PATH = API_PREFIX + "/docs"


class Api(BaseApi):
    """flask-smorest's Api answering every HTTP error in our problem-details shape."""

    # The document declares each operation's errors itself (api.openapi), in that shape.
    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        status = error.code or 500
        errors: dict = {}
        # webargs nests field errors under their location: {"json": {...}, "query": {...}};
        # a body that is not JSON at all comes as {"json": ["Invalid JSON body."]}.
        for location, located in (data.get("messages") or {}).items():
            if isinstance(located, dict):
                errors.update(located)
            else:
                errors[location] = located
        if errors:
            detail = "The request has invalid fields: " + ", ".join(sorted(errors)) + "."
        else:
            detail = data.get("message") or error.description or HTTPStatus(status).phrase
        response = problem(status, detail, errors)
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response


class Blueprint(BaseBlueprint):
    """One blueprint per resource; the endpoint docstrings are the OpenAPI text."""

    ARGUMENTS_PARSER = ArgumentsParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_error_handler(CatalogError, catalog_error_response)


def init_app(app: Flask) -> Api:
    app.config.update(
        API_TITLE="禅城区政府数据开放平台 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Catalog of the open data of Chancheng District, Foshan. Anonymous callers "
                    "see open data; departments and stewards authenticate with "
                    "`Authorization: Bearer <token>` (the first with `opendata token create`, "
                    "more at `/tokens`). Each token, or each address without one, has a "
                    "rate limit: every answer carries X-RateLimit-Limit, -Remaining and "
                    "-Reset, and a 429 says when to retry in Retry-After. Web pages of any "
                    "origin may call the API (CORS), without cookies."
                )
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{}, {"bearerAuth": []}],
        },
    )
    api = Api(app, spec_kwargs={"extra_plugins": [ProblemResponses()]})
    app.before_request(refuse_nul_characters)

    @app.after_request
    def _caller_dependent_caching(response):
        # What the API answers depends on who asks: caches must keep callers apart.
        if request.path.startswith(API_PREFIX):
            response.vary.update(("Authorization", "Cookie"))
            if request.headers.get("Authorization") or request.cookies:
                response.cache_control.private = True
        return response

    from api.datasets.resources import blp as datasets_blp
    from api.departments.resources import blp as departments_blp
    from api.docs import blp as docs_blp
    from api.export_jobs.resources import blp as export_jobs_blp
    from api.grants.resources import blp as grants_blp
    from api.harvest.resources import blp as harvest_blp
    from api.records.resources import blp as records_blp
    from api.resources.resources import blp as resources_blp
    from api.statistics.resources import blp as statistics_blp
    from api.tokens.resources import blp as tokens_blp
    from api.uploads.resources import blp as uploads_blp
    from api.vocabularies.resources import blp as vocabularies_blp

    blueprints = (
        departments_blp,
        datasets_blp,
        grants_blp,
        resources_blp,
        uploads_blp,
        records_blp,
        export_jobs_blp,
        vocabularies_blp,
        statistics_blp,
        tokens_blp,
        harvest_blp,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + blueprint.url_prefix)
    app.register_blueprint(docs_blp)
    return api

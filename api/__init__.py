"""The developer API: REST v1 under /api/v1 (flask-smorest, OpenAPI 3)."""

from http import HTTPStatus

from flask import Flask, request
from flask_smorest import Api as BaseApi
from flask_smorest import Blueprint as BaseBlueprint
from werkzeug.exceptions import HTTPException

from api.errors import catalog_error_response, problem
from catalog.errors import CatalogError

API_PREFIX = "/api/v1"


class Api(BaseApi):
    """flask-smorest's Api answering every HTTP error in our problem-details shape."""

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
                    "`Authorization: Bearer <token>` (create one with `opendata token create`)."
                )
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{}, {"bearerAuth": []}],
        },
    )
    api = Api(app)

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
    from api.harvest.resources import blp as harvest_blp
    from api.records.resources import blp as records_blp
    from api.resources.resources import blp as resources_blp
    from api.vocabularies.resources import blp as vocabularies_blp

    blueprints = (
        departments_blp,
        datasets_blp,
        resources_blp,
        records_blp,
        vocabularies_blp,
        harvest_blp,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + blueprint.url_prefix)
    return api

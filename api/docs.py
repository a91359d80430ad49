"""The interactive API documentation at /api/v1/docs: Swagger UI served by the portal
itself (static/vendor/swagger-ui), so it works without internet access."""

from flask import Blueprint, render_template, url_for

from api import API_DOCS_PATH

blp = Blueprint("api_docs_page", __name__, template_folder="templates")


@blp.route(API_DOCS_PATH)
def api_docs():
    """Swagger UI on the OpenAPI document, with no inline script (the page's CSP)."""
    return render_template(
        "api/docs.html",
        spec_url=url_for("api-docs.openapi_json"),
    )

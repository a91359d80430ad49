"""Cross-origin access (flask-cors): any web page may read the open data.

Credentials are never allowed: Access-Control-Allow-Credentials is never sent, so a
browser never lets another site read what the visitor's session cookie would show.
Writes may come from another origin only with a bearer token, which that site's code must
hold and send itself: the preflight allows the Authorization header, while the API
ignores session cookies on writes (api.context), so a cookie can authorise nothing.
"""

import re

from flask import Flask
from flask_cors import CORS

READ_METHODS = ["GET", "HEAD", "OPTIONS"]
API_METHODS = [*READ_METHODS, "POST", "PUT", "PATCH", "DELETE"]
# Request headers a page may send beyond the CORS-safelisted ones.
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "Range",
]
# Response headers a page's code may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "ETag",
    "Link",
    "Location",
    "Content-Disposition",
    "Content-Range",
    "Accept-Ranges",
    "X-Pagination",
]
API_PATHS = re.compile(r"^/api/")
OPEN_METADATA_PATHS = re.compile(
    r"^/catalog\.[a-z]+$|^/data\.json$|^/dataset/[^/]+\.(?:ttl|rdf|jsonld)$"
)
# How long a browser may reuse a preflight's answer, in seconds.
PREFLIGHT_MAX_AGE = 3600


def init_app(app: Flask) -> None:
    """Answer cross-origin reads of the API and the open metadata from any origin, and
    API writes that carry a bearer token."""
    CORS(
        app,
        resources={
            API_PATHS: {"methods": API_METHODS},
            OPEN_METADATA_PATHS: {"methods": READ_METHODS},
        },
        origins="*",
        # "*" rather than the caller's origin: one cached answer serves every site.
        send_wildcard=True,
        supports_credentials=False,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )

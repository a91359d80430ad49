"""Rate limits of the machine-facing routes (Flask-Limiter).

One budget per caller, shared by every limited route: per API token, counted by the
token's id (never its text), else per client address. Counters live in Redis when one is
configured, so all web processes count together, else in the process's memory.
"""

import re
from urllib.parse import urlsplit

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from limits import parse_many

from api.context import bearer_token, db
from api.errors import problem
from catalog.errors import Unauthorized
from catalog.services.users import token_id_for

# The REST and CKAN-compatible APIs, the DCAT and data.json exports, and file downloads
# and record exports wherever they are mounted. Pages and static files are not limited:
# the civil servants of one office browse from behind one NAT address.
LIMITED_PATHS = re.compile(
    r"^/api/"
    r"|^/catalog\.[a-z]+$"
    r"|^/data\.json$"
    r"|^/dataset/[^/]+\.(?:ttl|rdf|jsonld)$"
    r"|/(?:download|export)(?:/|$)"
)
REDIS_SCHEMES = ("redis", "rediss")
# Keeps the counters apart from the job queue's keys when they share a Redis.
KEY_PREFIX = "opendata-rate"


def storage_url_for(rate_limit_storage_url: str, queue_url: str) -> str:
    """Where counters live: the setting, else the queue's Redis, else memory."""
    if rate_limit_storage_url:
        return rate_limit_storage_url
    if urlsplit(queue_url).scheme in REDIS_SCHEMES:
        return queue_url
    return "memory://"


def caller_key() -> str:
    """The token's id for a known token, else the client's address.

    A malformed or unknown token counts against its address: its request fails with 401,
    and guessing tokens is limited like any other call.
    """
    try:
        token = bearer_token()
    except Unauthorized:
        token = None
    # CKAN clients send the token bare in Authorization, or in X-CKAN-API-Key.
    bare = request.headers.get("Authorization", "").strip()
    token = token or (bare if bare and " " not in bare else None)
    token = token or request.headers.get("X-CKAN-API-Key", "").strip() or None
    if token:
        token_id = token_id_for(db(), token)
        if token_id is not None:
            return f"token:{token_id}"
    return f"address:{request.remote_addr or 'unknown'}"


def _not_limited() -> bool:
    # Preflights are free: a browser sends one before each cross-origin write.
    return request.method == "OPTIONS" or not LIMITED_PATHS.search(request.path)


def _too_many_requests(error: RateLimitExceeded):
    return problem(
        429,
        f"Too many requests: at most {error.limit.limit} for each API token, or for each "
        "address without one. Retry after the seconds in Retry-After. "
        "请求过于频繁，请稍后再试。",
    )


def _retry_after_only_when_refused(response):
    # Flask-Limiter puts Retry-After on every response it counts; it only means "wait"
    # on a refusal, and X-RateLimit-Reset already tells the rest when the window ends.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask, rate_limit: str, storage_url: str) -> Limiter:
    """Limit the machine-facing routes to ``rate_limit`` ("600/minute;20000/day") per
    caller, with X-RateLimit-Limit / -Remaining / -Reset on each of their responses and
    429 problem details with Retry-After beyond it.

    If Redis stops answering, each process counts in memory until it is back, rather
    than failing every request.
    """
    try:
        parse_many(rate_limit)
    except ValueError as error:
        raise ValueError(
            f"OPENDATA_RATE_LIMIT: {rate_limit!r} is not a rate limit such as "
            "'600/minute;20000/day'"
        ) from error
    # Registered before the limiter's own hook, so that it runs after it.
    app.after_request(_retry_after_only_when_refused)
    limiter = Limiter(
        key_func=caller_key,
        application_limits=[rate_limit],
        headers_enabled=True,
        storage_uri=storage_url,
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        in_memory_fallback_enabled=True,
    )
    limiter.request_filter(_not_limited)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    return limiter

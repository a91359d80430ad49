"""The Flask app factory: settings in, backends built once, API and pages registered."""

from pathlib import Path

from flask import Flask

import api
from api import cors, limits
from api.context import close_db
from api.dcat.resources import blp as open_metadata
from catalog.backends import Backends
from harvesters import tasks as harvest_tasks
from portal.settings import Settings

STATIC_FOLDER = Path(__file__).resolve().parent.parent / "static"


def create_app(settings: Settings | None = None, backends: Backends | None = None) -> Flask:
    settings = settings or Settings.load()
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        static_folder=str(STATIC_FOLDER),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
        TESTING=settings.testing,
        DEBUG=settings.debug,
    )
    app.json.ensure_ascii = False
    app.extensions["opendata.settings"] = settings
    app.extensions["opendata"] = backends or Backends.from_settings(settings)
    app.teardown_appcontext(close_db)

    # The limiter first: its check must run before any other hook can answer a request.
    limits.init_app(
        app,
        settings.rate_limit,
        limits.storage_url_for(settings.rate_limit_storage_url, settings.queue_url),
    )
    api.init_app(app)
    from api.ckan.resources import blp as ckan_action_blp

    app.register_blueprint(ckan_action_blp)
    app.register_blueprint(open_metadata)
    cors.init_app(app)
    from portal import indexing, views

    indexing.init_app(app)
    harvest_tasks.init_app(app)
    views.init_app(app)
    return app

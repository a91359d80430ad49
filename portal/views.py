"""Server-rendered pages (zh-CN first); they read through the same services as the API."""

from flask import Blueprint, Flask, render_template

from api.context import current_actor, db
from catalog.services.datasets import DatasetQuery, search_datasets

pages = Blueprint("pages", __name__, template_folder="templates")


@pages.route("/")
def home():
    result = search_datasets(db(), current_actor(), DatasetQuery(per_page=5, sort="modified"))
    return render_template("home.html", latest=result.items, dataset_count=result.total)


def init_app(app: Flask) -> None:
    app.register_blueprint(pages)

from flask.views import MethodView

from api import Blueprint
from api.context import db
from api.datasets.schemas import LicenseSchema, ThemeSchema
from catalog.services.departments import list_licenses, list_themes

blp = Blueprint("vocabularies", __name__, url_prefix="", description="Themes and licences")


@blp.route("/themes")
class Themes(MethodView):
    @blp.response(200, ThemeSchema(many=True))
    def get(self):
        """List the themes datasets are filed under."""
        return list_themes(db())


@blp.route("/licenses")
class Licenses(MethodView):
    @blp.response(200, LicenseSchema(many=True))
    def get(self):
        """List the licences a dataset may carry."""
        return list_licenses(db())

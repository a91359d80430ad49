from flask.views import MethodView

from api import Blueprint
from api.context import current_actor, db
from api.datasets.schemas import LicenseSchema, SynonymSetSchema, ThemeSchema
from catalog.services.departments import list_licenses, list_themes
from catalog.services.search import add_synonyms, list_synonyms, remove_synonyms

blp = Blueprint(
    "vocabularies", __name__, url_prefix="", description="Themes, licences and search synonyms"
)


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


@blp.route("/synonyms")
class Synonyms(MethodView):
    @blp.response(200, SynonymSetSchema(many=True))
    def get(self):
        """The synonym sets search applies at query time (医保 finds 医疗保险)."""
        return list_synonyms(db())

    @blp.arguments(SynonymSetSchema)
    @blp.response(201, SynonymSetSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, values):
        """Add a synonym set (sysadmins). It applies to the next search; no reindex needed."""
        return add_synonyms(db(), current_actor(), values["terms"])


# Ids fit the database's INTEGER: a larger number is no synonym set, not a database error.
@blp.route("/synonyms/<int(max=2147483647):synonym_id>")
class SynonymSet(MethodView):
    @blp.response(204)
    @blp.doc(security=[{"bearerAuth": []}])
    def delete(self, synonym_id: int):
        """Remove a synonym set (sysadmins)."""
        remove_synonyms(db(), current_actor(), synonym_id)

from flask.views import MethodView

from api import Blueprint
from api.context import current_actor, db
from api.statistics.schemas import StatisticsSchema
from catalog.services.statistics import portal_statistics

blp = Blueprint("statistics", __name__, url_prefix="/statistics", description="Statistics")


@blp.route("")
class Statistics(MethodView):
    @blp.response(200, StatisticsSchema)
    def get(self):
        """Portal statistics: datasets by open type, department and format; resources,
        records and downloads. Counted over the datasets the caller may see."""
        return portal_statistics(db(), current_actor())

from flask.views import MethodView

from api import Blueprint
from api.context import current_actor, db
from api.departments.schemas import DepartmentSchema
from catalog.services.departments import get_department_summary, list_departments

blp = Blueprint("departments", __name__, url_prefix="/departments", description="Departments")


def _with_count(summary):
    department = summary.department
    data = DepartmentSchema().dump(department)
    data["dataset_count"] = summary.dataset_count
    return data


@blp.route("")
class Departments(MethodView):
    @blp.response(200, DepartmentSchema(many=True))
    def get(self):
        """List the departments, with how many datasets of each the caller may see."""
        return [_with_count(s) for s in list_departments(db(), current_actor())]


@blp.route("/<slug>")
class DepartmentBySlug(MethodView):
    @blp.etag
    @blp.response(200, DepartmentSchema)
    def get(self, slug: str):
        """Show one department."""
        return _with_count(get_department_summary(db(), current_actor(), slug))

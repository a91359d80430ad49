from flask.views import MethodView
from flask_smorest import Page

from api import Blueprint
from api.context import current_actor, db
from api.departments.schemas import DepartmentArgsSchema, DepartmentSchema
from catalog.services.departments import get_department_summary, list_departments

blp = Blueprint("departments", __name__, url_prefix="/departments", description="Departments")


def _with_count(summary):
    department = summary.department
    data = DepartmentSchema().dump(department)
    data["dataset_count"] = summary.dataset_count
    return data


@blp.route("")
class Departments(MethodView):
    @blp.arguments(DepartmentArgsSchema, location="query")
    @blp.response(200, DepartmentSchema(many=True))
    @blp.paginate(Page)
    def get(self, args):
        """List the departments, with how many datasets of each the caller may see.

        Paged with `page` and `page_size`; the X-Pagination header gives the total.
        """
        words = args["q"].strip().lower()
        summaries = list_departments(db(), current_actor())
        return [
            _with_count(s)
            for s in summaries
            if not words
            or words in s.department.name.lower()
            or words in s.department.name_en.lower()
            or words in s.department.slug
        ]


@blp.route("/<slug>")
class DepartmentBySlug(MethodView):
    @blp.etag
    @blp.response(200, DepartmentSchema)
    def get(self, slug: str):
        """Show one department."""
        return _with_count(get_department_summary(db(), current_actor(), slug))

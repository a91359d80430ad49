from flask import request, url_for
from flask.views import MethodView

from api import Blueprint
from api.context import backends, current_actor, db
from api.datasets.schemas import (
    DatasetInputSchema,
    DatasetPatchSchema,
    DatasetSchema,
    DatasetSearchArgsSchema,
    DatasetSearchResultSchema,
    SuggestArgsSchema,
    SuggestionsSchema,
)
from catalog.filters import DATASET_FILTERS
from catalog.services.datasets import (
    DatasetValues,
    create_dataset,
    get_dataset,
    update_dataset,
    withdraw_dataset,
)
from catalog.services.search import DatasetQuery, search_datasets, suggest_titles

blp = Blueprint("datasets", __name__, url_prefix="/datasets", description="Datasets")


def _page_link(page: int) -> str:
    args = request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    return url_for("datasets.Datasets", _external=False, **args)


@blp.route("")
class Datasets(MethodView):
    @blp.arguments(DatasetSearchArgsSchema, location="query")
    @blp.response(200, DatasetSearchResultSchema)
    def get(self, args):
        """Find datasets.

        Full text over titles, descriptions, tags, departments and file names, with filters
        and facet counts. Only datasets the caller may see are counted or returned.
        """
        query = DatasetQuery(
            q=args["q"],
            filters={f.param: args[f.param] for f in DATASET_FILTERS if args.get(f.param)},
            sort=args["sort"],
            page=args["page"],
            per_page=args["page_size"],
        )
        result = search_datasets(db(), backends().catalog_index, current_actor(), query)
        links = {}
        if result.page * result.per_page < result.total:
            links["next"] = _page_link(result.page + 1)
        if result.page > 1:
            links["prev"] = _page_link(result.page - 1)
        return {
            "total": result.total,
            "page": result.page,
            "page_size": result.per_page,
            "items": result.items,
            "facets": result.facets,
            "highlights": result.highlights,
            "links": links,
        }

    @blp.arguments(DatasetInputSchema)
    @blp.response(201, DatasetSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, values):
        """Create a dataset (editors and admins of its department)."""
        return create_dataset(db(), current_actor(), DatasetValues(**values))


@blp.route("/suggest")
class DatasetSuggestions(MethodView):
    @blp.arguments(SuggestArgsSchema, location="query")
    @blp.response(200, SuggestionsSchema)
    def get(self, args):
        """Titles for a search box's autocomplete, among the datasets the caller may see."""
        titles = suggest_titles(
            db(), backends().catalog_index, current_actor(), args["q"], args["limit"]
        )
        return {"suggestions": titles}


@blp.route("/<slug>")
class DatasetBySlug(MethodView):
    @blp.etag
    @blp.response(200, DatasetSchema)
    def get(self, slug: str):
        """Show a dataset with its resources. Hidden datasets answer 404."""
        return get_dataset(db(), current_actor(), slug)

    @blp.arguments(DatasetPatchSchema)
    @blp.response(200, DatasetSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def patch(self, values, slug: str):
        """Change some fields of a dataset (editors and admins of its department)."""
        return update_dataset(db(), current_actor(), slug, DatasetValues(**values))

    @blp.response(204)
    @blp.doc(security=[{"bearerAuth": []}])
    def delete(self, slug: str):
        """Withdraw a dataset (撤回): it leaves the catalog; its history stays."""
        withdraw_dataset(db(), current_actor(), slug)

"""Harvest sources and their jobs: stewards (editors and admins of a department, with a
write token) manage their department's sources and run them; members of the department
read sources and job reports; everyone else gets 404, as for hidden datasets."""

from uuid import UUID

from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest import abort

from api import Blueprint
from api.context import current_actor, db
from api.harvest.schemas import (
    HarvestErrorPageSchema,
    HarvestJobSchema,
    HarvestSourcePatchSchema,
    HarvestSourceSchema,
    JobListArgsSchema,
    PageArgsSchema,
)
from catalog.services.harvest import (
    SourceValues,
    cancel_job,
    create_source,
    delete_source,
    get_job,
    get_source,
    job_errors,
    list_jobs,
    list_sources,
    update_source,
)

blp = Blueprint("harvest", __name__, url_prefix="", description="Harvest sources and jobs")
WRITE = {"security": [{"bearerAuth": []}]}


def _check_spec():
    """The source-type check the portal put on the app (harvesters.specs.check_spec)."""
    return current_app.extensions["opendata.check_spec"]


def _jobs():
    """The portal's job queue (harvesters.tasks.JobQueue)."""
    return current_app.extensions["opendata.jobs"]


@blp.route("/departments/<slug>/harvest-sources")
class DepartmentHarvestSources(MethodView):
    @blp.response(200, HarvestSourceSchema(many=True))
    def get(self, slug: str):
        """List a department's harvest sources (members of the department)."""
        return list_sources(db(), current_actor(), department_slug=slug)

    @blp.arguments(HarvestSourceSchema)
    @blp.response(201, HarvestSourceSchema)
    @blp.doc(**WRITE)
    def post(self, values, slug: str):
        """Add a harvest source to a department (its editors and admins).

        The URL and options are checked by the source type before anything is saved.
        """
        return create_source(db(), current_actor(), slug, SourceValues(**values), _check_spec())


@blp.route("/harvest-sources/<uuid:source_id>")
class HarvestSourceById(MethodView):
    @blp.response(200, HarvestSourceSchema)
    def get(self, source_id: UUID):
        """Show a harvest source (members of its department)."""
        return get_source(db(), current_actor(), str(source_id))

    @blp.arguments(HarvestSourcePatchSchema(partial=True))
    @blp.response(200, HarvestSourceSchema)
    @blp.doc(**WRITE)
    def patch(self, changes, source_id: UUID):
        """Change some fields of a harvest source (editors and admins of its department)."""
        return update_source(db(), current_actor(), str(source_id), changes, _check_spec())

    @blp.response(204)
    @blp.doc(**WRITE)
    def delete(self, source_id: UUID):
        """Switch a harvest source off: it is no longer scheduled or run; the datasets it
        made and its job reports stay."""
        delete_source(db(), current_actor(), str(source_id))


@blp.route("/harvest-sources/<uuid:source_id>/jobs")
class HarvestSourceJobs(MethodView):
    @blp.arguments(JobListArgsSchema, location="query")
    @blp.response(200, HarvestJobSchema(many=True))
    def get(self, args, source_id: UUID):
        """A source's jobs, newest first (members of its department)."""
        get_source(db(), current_actor(), str(source_id))
        return list_jobs(
            db(),
            current_actor(),
            source_id=str(source_id),
            status=args.get("status"),
            limit=args["limit"],
        )

    @blp.response(202, HarvestJobSchema)
    @blp.alt_response(409, description="A job of this source is already queued or running.")
    @blp.alt_response(503, description="The job queue does not answer; nothing was queued.")
    @blp.doc(**WRITE)
    def post(self, source_id: UUID):
        """Harvest the source now (editors and admins of its department): the job is queued
        and its report fills in as it runs. One job per source at a time."""
        try:
            return _jobs().request_harvest(db(), current_actor(), str(source_id))
        except ConnectionError as error:
            abort(503, message=str(error))


@blp.route("/harvest-jobs/<uuid:job_id>")
class HarvestJobById(MethodView):
    @blp.response(200, HarvestJobSchema)
    def get(self, job_id: UUID):
        """A job's report: its status, times, counts and lease (members of the department).

        `stuck` marks a running job whose worker stopped renewing its lease."""
        return get_job(db(), current_actor(), str(job_id))


@blp.route("/harvest-jobs/<uuid:job_id>/errors")
class HarvestJobErrors(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, HarvestErrorPageSchema)
    def get(self, args, job_id: UUID):
        """The objects a job could not take, with the raw payload of each (members of the
        department). Paged with `page` and `page_size`; `links.next` is there while more
        follow."""
        page, size = args["page"], args["page_size"]
        # One more than the page holds tells whether another page follows.
        rows = job_errors(
            db(), current_actor(), str(job_id), limit=size + 1, offset=(page - 1) * size
        )
        links = {}
        if len(rows) > size:
            links["next"] = _page_link(str(job_id), page + 1, size)
        if page > 1:
            links["prev"] = _page_link(str(job_id), page - 1, size)
        return {"page": page, "page_size": size, "items": rows[:size], "links": links}


def _page_link(job_id: str, page: int, size: int) -> str:
    args = {**request.args.to_dict(), "page": page, "page_size": size}
    return url_for("harvest.HarvestJobErrors", job_id=job_id, **args)


@blp.route("/harvest-jobs/<uuid:job_id>/cancel")
class HarvestJobCancel(MethodView):
    @blp.response(200, HarvestJobSchema)
    @blp.doc(**WRITE)
    def post(self, job_id: UUID):
        """Cancel a job (editors and admins of its department): a queued one at once, a
        running one at its next object; a stuck one is released."""
        return cancel_job(db(), current_actor(), str(job_id))

from datetime import UTC, datetime

from flask import url_for
from marshmallow import Schema, ValidationError, fields, validate

from api.departments.schemas import DepartmentRefSchema

ON_MISSING = ("withdraw", "keep")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
STATUS_LABELS = {
    "queued": "排队中",
    "running": "运行中",
    "succeeded": "已完成",
    "failed": "失败",
    "cancelled": "已取消",
    "lost": "已中断",
}
MAX_PAGE_SIZE = 200


def _no_nul(value) -> None:
    """Refuse NUL characters anywhere in a value: PostgreSQL can store none, in text or in
    JSON, and the request must get a 422, not fail at the database."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError("NUL characters (\\u0000) are not allowed.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)


class HarvestSourceSchema(Schema):
    id = fields.String(dump_only=True)
    department = fields.Nested(DepartmentRefSchema, dump_only=True)
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), _no_nul],
        metadata={"description": "What stewards call the source, e.g. 教育局 CKAN 门户."},
    )
    kind = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=50), _no_nul],
        metadata={
            "description": "The source type: ckan, dcat, datajson, url, folder, sql, s3 (and "
            "any type a department installs)."
        },
    )
    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), _no_nul],
        metadata={
            "description": "What the source type reads: an http(s) URL, file:///folder, "
            "s3://bucket/prefix or an SQLAlchemy URL. Never put credentials here."
        },
    )
    config = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        validate=_no_nul,
        metadata={"description": "Options of the source type (a query, a page size, ...)."},
    )
    dataset_defaults = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        validate=_no_nul,
        metadata={
            "description": "Values given to the datasets it creates: open_type, share_type, "
            "state, themes, license_id, update_frequency."
        },
    )
    schedule = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=100), _no_nul],
        metadata={
            "description": "Five-field cron expression in UTC (minute hour day month weekday), "
            "e.g. '0 2 * * *' for 02:00 every day; null to harvest only when asked."
        },
    )
    on_missing = fields.String(
        load_default="withdraw",
        validate=validate.OneOf(ON_MISSING),
        metadata={
            "description": "What happens to a dataset gone from the source: withdraw (撤回) "
            "or keep."
        },
    )
    active = fields.Boolean(load_default=True)
    created_at = fields.DateTime(dump_only=True)
    modified_at = fields.DateTime(dump_only=True)


class HarvestSourcePatchSchema(HarvestSourceSchema):
    """The same fields, each optional (load it with partial=True): only those given change."""

    # No defaults when patching: a field left out must stay as it is.
    config = fields.Dict(keys=fields.String(), validate=_no_nul)
    dataset_defaults = fields.Dict(keys=fields.String(), validate=_no_nul)
    schedule = fields.String(allow_none=True, validate=[validate.Length(max=100), _no_nul])
    on_missing = fields.String(validate=validate.OneOf(ON_MISSING))
    active = fields.Boolean()


class HarvestSourceRefSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    department = fields.Nested(DepartmentRefSchema)


class JobCountsSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    withdrawn = fields.Integer()
    failed = fields.Integer()


def _is_stuck(job) -> bool:
    return (
        job.status == "running"
        and job.lease_expires_at is not None
        and job.lease_expires_at < datetime.now(UTC)
    )


class HarvestJobSchema(Schema):
    id = fields.String()
    source = fields.Nested(HarvestSourceRefSchema)
    status = fields.String(metadata={"description": ", ".join(JOB_STATUSES) + "."})
    status_label = fields.Function(lambda job: STATUS_LABELS.get(job.status, job.status))
    trigger = fields.String(metadata={"description": "manual or schedule."})
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    worker = fields.String(metadata={"description": "The worker holding or last holding it."})
    heartbeat_at = fields.DateTime(allow_none=True)
    lease_expires_at = fields.DateTime(allow_none=True)
    cancel_requested = fields.Boolean()
    stuck = fields.Function(
        _is_stuck,
        metadata={
            "description": "Running, but its worker has stopped renewing its lease: it will be "
            "marked lost and resumed, or it can be cancelled."
        },
    )
    counts = fields.Function(
        lambda job: JobCountsSchema().dump(job),
        metadata={"description": "Datasets created, updated, unchanged, withdrawn, failed."},
    )
    error = fields.String(metadata={"description": "Why the whole job failed, if it did."})
    links = fields.Method("_links")

    def _links(self, job):
        return {
            "errors": url_for("harvest.HarvestJobErrors", job_id=job.id, _external=True),
            "source": url_for("harvest.HarvestSourceById", source_id=job.source_id, _external=True),
        }


class JobListArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class HarvestErrorSchema(Schema):
    id = fields.Integer()
    remote_id = fields.String(metadata={"description": "The object's identity in the source."})
    stage = fields.String(metadata={"description": "gather, fetch or import."})
    message = fields.String()
    payload = fields.String(metadata={"description": "The raw object the job could not take."})
    at = fields.DateTime()


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class HarvestErrorPageSchema(Schema):
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(HarvestErrorSchema))
    links = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "next and prev pages, where there are any."},
    )

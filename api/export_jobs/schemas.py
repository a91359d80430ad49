from flask import url_for
from marshmallow import Schema, fields

STATUS_LABELS = {
    "queued": "排队中",
    "running": "导出中",
    "succeeded": "已完成",
    "failed": "失败",
    "expired": "已过期",
}


def _progress(job) -> float | None:
    """Share of the records written: exact when done, estimated while running."""
    if job.status in ("succeeded", "expired"):
        return 1.0
    if job.status != "running" or not job.row_estimate:
        return None
    # The estimate may be a lower bound: the share stays below one until the end.
    return round(min(job.rows_written / job.row_estimate, 0.99), 4)


class ExportJobSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": ", ".join(STATUS_LABELS) + "."})
    status_label = fields.Function(lambda job: STATUS_LABELS.get(job.status, job.status))
    format = fields.String(metadata={"description": "csv, jsonl, xlsx or geojson."})
    dataset_id = fields.String()
    resource_id = fields.String()
    query = fields.Dict(metadata={"description": "The export's q, filters and sort."})
    options = fields.Dict(metadata={"description": "use_titles (CSV/XLSX headers), excel_bom."})
    row_estimate = fields.Integer(
        metadata={
            "description": "The matching records counted when asked (a lower bound for "
            "a filtered export of more than 100,000)."
        }
    )
    rows_written = fields.Integer(metadata={"description": "Written so far, then in all."})
    progress = fields.Function(
        _progress, allow_none=True, metadata={"description": "0 to 1, while running and after."}
    )
    masked_fields = fields.List(
        fields.String(), metadata={"description": "Sensitive fields masked in the file."}
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the file is deleted (a day after)."}
    )
    size = fields.Integer(allow_none=True, metadata={"description": "Of the file, in bytes."})
    sha256 = fields.String(allow_none=True)
    error = fields.String(metadata={"description": "Why the export failed, if it did."})
    links = fields.Method("_links")

    def _links(self, job):
        links = {"self": url_for("export_jobs.ExportJobById", job_id=job.id, _external=True)}
        if job.status == "succeeded":
            links["download"] = url_for(
                "export_jobs.ExportJobDownload", job_id=job.id, _external=True
            )
        return links

import json

from marshmallow import Schema, ValidationError, fields, validate, validates

from catalog.exports import FORMATS
from catalog.interfaces import RecordFilter
from catalog.records import MAX_GROUPS, MAX_LIMIT


def parse_filters(text: str) -> tuple[RecordFilter, ...]:
    """``{"街道": "祖庙街道", "level": ["小学", "初中"], "students": {"gte": 100},
    "phone": {"exists": true}}`` -> RecordFilters."""
    try:
        given = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise ValidationError(f"filters must be a JSON object: {error.msg}") from error
    if not isinstance(given, dict):
        raise ValidationError("filters must be a JSON object of field: condition.")
    parsed = []
    for name, condition in given.items():
        if isinstance(condition, list):
            parsed.append(RecordFilter(name, "in", values=tuple(condition)))
        elif isinstance(condition, dict):
            if set(condition) == {"exists"}:
                parsed.append(RecordFilter(name, "exists", value=bool(condition["exists"])))
            elif condition and set(condition) <= {"gte", "lte"}:
                parsed.append(
                    RecordFilter(name, "range", gte=condition.get("gte"), lte=condition.get("lte"))
                )
            else:
                raise ValidationError(
                    f"filters[{name!r}]: use a value, a list, {{gte, lte}} or {{exists}}."
                )
        else:
            parsed.append(RecordFilter(name, "eq", value=condition))
    return tuple(parsed)


def parse_sort(text: str) -> tuple[tuple[str, str], ...]:
    """``"区域,-学生数"`` -> ((区域, asc), (学生数, desc))."""
    order = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        order.append((part[1:], "desc") if part.startswith("-") else (part, "asc"))
    return tuple(order)


class RecordArgsSchema(Schema):
    q = fields.String(load_default="", metadata={"description": "Words to find in text fields."})
    filters = fields.String(
        load_default="",
        metadata={
            "description": 'JSON: {"field": value, "field": [values], '
            '"field": {"gte": a, "lte": b}, "field": {"exists": true}}'
        },
    )
    sort = fields.String(
        load_default="", metadata={"description": "Fields, comma-separated; '-' for descending."}
    )

    @validates("filters")
    def _filters_parse(self, value, **_kwargs):
        parse_filters(value)


class RecordPageArgsSchema(RecordArgsSchema):
    fields_ = fields.String(
        data_key="fields",
        load_default="",
        metadata={"description": "Fields to return, comma-separated (default: all)."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(
        load_default=None, metadata={"description": "next_cursor of the previous page."}
    )


class RecordCountArgsSchema(RecordArgsSchema):
    field = fields.String(required=True, metadata={"description": "The field to group by."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_GROUPS))


class RecordExportArgsSchema(RecordArgsSchema):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(list(FORMATS)),
        metadata={
            "description": "csv (UTF-8), jsonl (JSON Lines), xlsx, or geojson (for records "
            "with a geo point field)."
        },
    )
    bom = fields.Boolean(
        load_default=False,
        metadata={"description": "CSV with a byte-order mark, so that Excel reads it as UTF-8."},
    )
    header = fields.String(
        load_default="title",
        validate=validate.OneOf(["title", "name"]),
        metadata={"description": "CSV and XLSX header: Chinese titles or field names."},
    )
    as_job = fields.Boolean(
        data_key="async",
        load_default=None,
        metadata={
            "description": "true: run the export as a job whatever its size (202 with its "
            "status); false: never (422 when there are more records than stream directly); "
            "left out: a job only for more records than stream directly."
        },
    )


class RecordFieldSchema(Schema):
    name = fields.String()
    title = fields.String()
    type = fields.String()
    sensitive = fields.Boolean()
    masked = fields.Boolean(metadata={"description": "Returned masked to this caller."})


class RecordPageSchema(Schema):
    fields_ = fields.List(fields.Nested(RecordFieldSchema), data_key="fields", attribute="fields")
    records = fields.List(fields.Dict())
    total = fields.Integer()
    total_is_estimate = fields.Boolean(
        metadata={"description": "True when the total is a lower bound (counting was capped)."}
    )
    next_cursor = fields.String(allow_none=True)


class RecordCountSchema(Schema):
    value = fields.Raw()
    count = fields.Integer()

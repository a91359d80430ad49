from marshmallow import Schema, fields


class CountSchema(Schema):
    value = fields.String(metadata={"description": "The code: open type, slug or format."})
    label = fields.String(metadata={"description": "What to show, e.g. 无条件开放."})
    count = fields.Integer()


class StatisticsSchema(Schema):
    departments = fields.Integer()
    datasets = fields.Integer()
    resources = fields.Integer()
    records = fields.Integer(metadata={"description": "Rows of the tabular resources."})
    downloads = fields.Integer(
        metadata={"description": "File downloads and record exports, all days together."}
    )
    by_open_type = fields.List(fields.Nested(CountSchema))
    by_department = fields.List(
        fields.Nested(CountSchema),
        metadata={"description": "Departments with datasets the caller sees, most first."},
    )
    by_format = fields.List(
        fields.Nested(CountSchema), metadata={"description": "Resources by format, most first."}
    )

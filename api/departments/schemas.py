from marshmallow import Schema, fields


class DepartmentSchema(Schema):
    id = fields.String(dump_only=True)
    slug = fields.String(metadata={"description": "Short identifier used in URLs."})
    name = fields.String(metadata={"description": "Chinese name, e.g. 佛山市禅城区教育局."})
    name_en = fields.String()
    code = fields.String(metadata={"description": "统一社会信用代码 of the department."})
    description = fields.String()
    contact_email = fields.String()
    contact_phone = fields.String()
    dataset_count = fields.Integer(
        dump_only=True, metadata={"description": "Datasets of this department the caller sees."}
    )


class DepartmentRefSchema(Schema):
    slug = fields.String()
    name = fields.String()


class DepartmentArgsSchema(Schema):
    q = fields.String(load_default="", metadata={"description": "Part of a name, e.g. 教育."})

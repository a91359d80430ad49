from flask import url_for
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.context import current_actor, db
from api.departments.schemas import DepartmentRefSchema
from api.resources.schemas import FileFact
from catalog.filters import DATASET_FILTERS
from catalog.policy import Action, can
from catalog.services.datasets import accepted_values, describe_choices, reference_errors
from catalog.services.search import MAX_PAGE_SIZE, SORTS
from catalog.vocab import DatasetState, OpenType, ShareMethod, ShareType, UpdateFrequency


def _choice(vocabulary, description: str, **kwargs):
    """A vocabulary field: accepts the code or the Chinese label (the service stores the
    code), documents both."""
    pairs = describe_choices(vocabulary)
    return fields.String(
        validate=validate.OneOf(accepted_values(vocabulary), error=f"Use one of: {pairs}."),
        metadata={"description": f"{description}: {pairs}."},
        **kwargs,
    )


def _address(resource) -> str | None:
    if resource.storage_key is None:
        return resource.url
    return url_for(
        "resources.ResourceDownload",
        slug=resource.dataset.slug,
        resource_id=resource.id,
        _external=True,
    )


class ThemeSchema(Schema):
    slug = fields.String()
    name = fields.String()
    name_en = fields.String()


class LicenseSchema(Schema):
    id = fields.String()
    title = fields.String()
    title_en = fields.String()
    url = fields.String()


class SynonymSetSchema(Schema):
    id = fields.Integer(dump_only=True)
    terms = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        required=True,
        validate=validate.Length(min=2, max=20),
        metadata={"description": 'Words a search treats as one, e.g. ["医保", "医疗保险"].'},
    )


class FieldSchema(Schema):
    """One 信息项 of a tabular resource."""

    name = fields.String(required=True)
    title = fields.String(load_default="")
    type = fields.String(load_default="text")
    sensitive = fields.Boolean(load_default=False)


class ResourceSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    format = fields.String()
    media_type = fields.String()
    url = FileFact(
        _address,
        metadata={
            "description": "Where to fetch the data: the portal's download address for stored "
            "files, the outside address for links; null when the caller may not fetch the data."
        },
    )
    stored = fields.Function(
        lambda r: r.storage_key is not None,
        metadata={"description": "Whether the file is kept in the portal's object store."},
    )
    size = fields.Integer(allow_none=True)
    sha256 = FileFact(
        lambda resource: resource.sha256,
        metadata={"description": "The file's SHA-256; null when the caller may not fetch it."},
    )
    fields_ = fields.List(fields.Nested(FieldSchema), data_key="fields")
    row_count = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    modified_at = fields.DateTime()

    def get_attribute(self, obj, attr, default):
        return super().get_attribute(obj, "fields" if attr == "fields_" else attr, default)


class DatasetSchema(Schema):
    id = fields.String()
    slug = fields.String()
    title = fields.String()
    title_en = fields.String()
    description = fields.String()
    description_en = fields.String()
    department = fields.Nested(DepartmentRefSchema)
    themes = fields.List(fields.Nested(ThemeSchema))
    tags = fields.Function(lambda d: [t.name for t in d.tags])
    license = fields.Nested(LicenseSchema, allow_none=True)
    resource_code = fields.String(allow_none=True)
    provider = fields.String()
    provider_code = fields.String()
    open_type = fields.String()
    open_type_label = fields.Function(lambda d: OpenType(d.open_type).label)
    open_condition = fields.String()
    share_type = fields.String()
    share_type_label = fields.Function(lambda d: ShareType(d.share_type).label)
    share_condition = fields.String()
    share_method = fields.String()
    update_frequency = fields.String()
    update_frequency_label = fields.Function(lambda d: UpdateFrequency(d.update_frequency).label)
    release_date = fields.Date(allow_none=True)
    related_resource_codes = fields.List(fields.String())
    temporal_start = fields.Date(allow_none=True)
    temporal_end = fields.Date(allow_none=True)
    spatial = fields.String()
    contact_name = fields.String()
    contact_email = fields.String()
    contact_phone = fields.String()
    state = fields.String()
    version = fields.String()
    revision = fields.Integer()
    extras = fields.Dict()
    created_at = fields.DateTime()
    modified_at = fields.DateTime()
    resources = fields.List(fields.Nested(ResourceSchema))
    access = fields.Method("_access", metadata={"description": "What the caller may do."})

    def _access(self, dataset):
        actor = current_actor()
        return {
            "read_data": can(actor, Action.READ_DATA, dataset),
            "edit": can(actor, Action.EDIT, dataset),
            "delete": can(actor, Action.DELETE, dataset),
        }


class DatasetInputSchema(Schema):
    """A dataset to create; PATCH takes the same fields, each optional.

    Every field's errors come back in one answer, those of a department, licence or theme
    that does not exist included. A taken slug or resource code is checked after the
    permission check, so that no one can probe for datasets hidden from them.
    """

    class Meta:
        unknown = "raise"

    slug = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,99}$"),
        metadata={"description": "Lower-case letters, digits and '-'; used in URLs."},
    )
    title = fields.String(
        required=True,
        validate=[
            validate.Length(max=500),
            validate.Regexp(r"\S", error="A dataset needs a title."),
        ],
    )
    title_en = fields.String(validate=validate.Length(max=500))
    description = fields.String()
    description_en = fields.String()
    department = fields.String(
        required=True, metadata={"description": "Slug of the owning department."}
    )
    themes = fields.List(fields.String(), metadata={"description": "Theme slugs."})
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)))
    license = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Licence id; null for none."},
    )
    resource_code = fields.String(allow_none=True, validate=validate.Length(max=100))
    # Lengths as the columns hold them: PostgreSQL refuses a longer value outright.
    provider = fields.String(validate=validate.Length(max=200))
    provider_code = fields.String(validate=validate.Length(max=50))
    open_type = _choice(OpenType, "开放类型", required=True)
    open_condition = fields.String()
    share_type = _choice(ShareType, "共享类型", required=True)
    share_condition = fields.String()
    share_method = _choice(ShareMethod, "共享方式")
    update_frequency = _choice(UpdateFrequency, "更新频率")
    release_date = fields.Date(allow_none=True)
    related_resource_codes = fields.List(fields.String())
    temporal_start = fields.Date(allow_none=True)
    temporal_end = fields.Date(allow_none=True)
    spatial = fields.String(validate=validate.Length(max=200))
    contact_name = fields.String(validate=validate.Length(max=100))
    contact_email = fields.Email(allow_none=True, validate=validate.Length(max=200))
    contact_phone = fields.String(validate=validate.Length(max=50))
    state = _choice(DatasetState, "状态")
    version = fields.String(validate=validate.Length(max=50))
    extras = fields.Dict(keys=fields.String())

    @validates_schema(skip_on_field_errors=False)
    def _names_exist(self, values, **_kwargs):
        # Runs on the fields that loaded, so these come back with the other fields' errors.
        errors = reference_errors(db(), values)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _null_email_is_none(self, values, **_kwargs):
        # null clears the contact email, which the column keeps as "" (an Email field
        # refuses "" itself).
        if values.get("contact_email", "") is None:
            values["contact_email"] = ""
        return values


class DatasetPatchSchema(DatasetInputSchema):
    """Fields of a dataset to change; each is optional."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


def _filter_field(dataset_filter) -> fields.List:
    """A filter's repeatable parameter. A vocabulary's values are documented here and
    checked by the search service, which names a value it does not know (422)."""
    description = f"Filter by {dataset_filter.label} (repeatable)."
    item = fields.String()
    if dataset_filter.vocabulary is not None:
        description += (
            f" The code or the Chinese label: {describe_choices(dataset_filter.vocabulary)}."
        )
        item = fields.String(metadata={"enum": accepted_values(dataset_filter.vocabulary)})
    return fields.List(item, metadata={"description": description})


# The search parameters, with one repeatable parameter per registered filter
# (?department=edu&department=hrss): adding a filter to the registry adds it here.
DatasetSearchArgsSchema = Schema.from_dict(
    {
        "q": fields.String(load_default="", metadata={"description": "Words to find."}),
        "sort": fields.String(load_default="relevance", validate=validate.OneOf(SORTS)),
        "page": fields.Integer(load_default=1, validate=validate.Range(min=1)),
        "page_size": fields.Integer(
            load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
        ),
        **{f.param: _filter_field(f) for f in DATASET_FILTERS},
    },
    name="DatasetSearchArgs",
)


class FacetCountSchema(Schema):
    value = fields.String()
    label = fields.String()
    count = fields.Integer()


class DatasetSearchResultSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(DatasetSchema))
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetCountSchema)))
    highlights = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.String()),
        metadata={
            "description": "By dataset id, by field: HTML-escaped text with <mark> around "
            "the words found."
        },
    )
    links = fields.Dict(keys=fields.String(), values=fields.String())


class SuggestArgsSchema(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=20))


class SuggestionsSchema(Schema):
    suggestions = fields.List(fields.String())

"""The pages' forms: login (a CSRF-protected POST), dataset search (a GET form whose
arguments are the REST API's, parsed by the API's own schema so the two cannot drift), and
a steward's upload of a file with the confirmation of its fields.
"""

from dataclasses import dataclass, field
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from marshmallow import EXCLUDE, ValidationError
from marshmallow import fields as schema_fields
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from api.datasets.schemas import DatasetSearchArgsSchema
from catalog.filters import DATASET_FILTERS
from catalog.services.search import MAX_PAGE_SIZE, MAX_RESULT_WINDOW, SORTS, DatasetQuery
from catalog.vocab import FieldType

DEFAULT_PAGE_SIZE = 20
SORT_LABELS = {
    "relevance": "相关度",
    "modified": "最近更新",
    "title": "名称",
    "released": "发布日期",
    "downloads": "下载量",
}
ARG_LABELS = {"q": "关键词", "sort": "排序方式", "page": "页码", "page_size": "每页条数"}


class InvalidSearch(BadRequest):
    """Bad search arguments; the description (in Chinese) names them for the reader."""


class LoginForm(FlaskForm):
    name = StringField(
        "用户名",
        validators=[DataRequired("请输入用户名。"), Length(max=100, message="用户名过长。")],
    )
    password = PasswordField(
        "密码",
        validators=[DataRequired("请输入密码。"), Length(max=500, message="密码过长。")],
    )
    next = HiddenField()


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: never an open redirect.

    Only ``/path?query`` is accepted. ``//host``, ``/\\host``, ``https://host`` and any
    control or space character (browsers drop tabs and newlines, turning ``/\\t/host``
    into ``//host``) are refused.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if target.startswith(("//", "/\\")) or "\\" in target:
        return None
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in target):
        return None
    return target


_SEARCH_ARGS = DatasetSearchArgsSchema(unknown=EXCLUDE)
FILTER_PARAMS = tuple(f.param for f in DATASET_FILTERS)


@dataclass(frozen=True)
class DatasetSearchForm:
    """The search page's arguments, and the links that change one of them."""

    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, args: MultiDict) -> "DatasetSearchForm":
        """Read ``q``, ``sort``, ``page``, ``page_size`` and the repeatable filters.

        Raise InvalidSearch (a 400 page) naming the bad argument; ignore unknown arguments.
        """
        raw: dict[str, Any] = {}
        for name, schema_field in _SEARCH_ARGS.fields.items():
            if isinstance(schema_field, schema_fields.List):
                values = [value for value in args.getlist(name) if value.strip()]
                if values:
                    raw[name] = values
            elif name in args:
                raw[name] = args[name]
        try:
            loaded = _SEARCH_ARGS.load(raw)
        except ValidationError as error:
            raise InvalidSearch(_describe(error.messages)) from error
        # The service refuses this too; checked here to say so in Chinese, before any query.
        if loaded["page"] * loaded["page_size"] > MAX_RESULT_WINDOW:
            raise InvalidSearch(
                f"页码超出范围：最多可翻阅前 {MAX_RESULT_WINDOW} 条结果，请缩小搜索范围。"
            )
        return cls(
            q=loaded["q"].strip(),
            filters={p: loaded[p] for p in FILTER_PARAMS if loaded.get(p)},
            sort=loaded["sort"],
            page=loaded["page"],
            page_size=loaded["page_size"],
        )

    def query(self) -> DatasetQuery:
        return DatasetQuery(
            q=self.q, filters=self.filters, sort=self.sort, page=self.page, per_page=self.page_size
        )

    # Links: each returns the arguments of a URL (for url_for), dropping the defaults.

    def args(self, page: int = 1, **changes: Any) -> dict[str, Any]:
        values = {"q": self.q, "sort": self.sort, "page_size": self.page_size, **changes}
        args: dict[str, Any] = {}
        if values["q"]:
            args["q"] = values["q"]
        for param in FILTER_PARAMS:
            chosen = values.get(param, self.filters.get(param))
            if chosen:
                args[param] = list(chosen)
        if values["sort"] != "relevance":
            args["sort"] = values["sort"]
        if values["page_size"] != DEFAULT_PAGE_SIZE:
            args["page_size"] = values["page_size"]
        if page != 1:
            args["page"] = page
        return args

    def at_page(self, page: int) -> dict[str, Any]:
        return self.args(page=page)

    def sorted_by(self, sort: str) -> dict[str, Any]:
        return self.args(sort=sort)

    def is_selected(self, param: str, value: str) -> bool:
        return value in self.filters.get(param, ())

    def toggled(self, param: str, value: str) -> dict[str, Any]:
        """Add ``value`` to the filter, or take it away if it is chosen; back to page 1."""
        chosen = list(self.filters.get(param, ()))
        chosen = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
        return self.args(**{param: chosen})

    def selections(self) -> list[tuple[str, str]]:
        return [(param, value) for param in FILTER_PARAMS for value in self.filters.get(param, ())]

    def without_filters(self) -> dict[str, Any]:
        return self.args(**{param: [] for param in FILTER_PARAMS})


def _describe(messages: dict[str, Any]) -> str:
    names = [ARG_LABELS.get(name, name) for name in sorted(messages)]
    text = "查询参数无效：" + "、".join(names) + "。"
    if "sort" in messages:
        text += (
            "排序方式可选："
            + "、".join(f"{code}（{SORT_LABELS.get(code, code)}）" for code in SORTS)
            + "。"
        )
    if "page" in messages or "page_size" in messages:
        text += f"页码须为正整数，每页条数为 1 至 {MAX_PAGE_SIZE}。"
    return text


# --- Steward uploads -------------------------------------------------------------------


class UploadForm(FlaskForm):
    """A file for a dataset: a new resource, or a new version of one of its files."""

    file = FileField("数据文件", validators=[FileRequired("请选择要上传的文件。")])
    replace = SelectField("上传为", choices=[SelectChoice("", "新的数据资源")])

    def offer_versions_of(self, resources) -> None:
        """Let the file replace any stored file of the dataset (links have no versions)."""
        self.replace.choices = [SelectChoice("", "新的数据资源")] + [
            SelectChoice(resource.id, f"「{resource.name}」的新版本（替换现有文件）")
            for resource in resources
            if resource.storage_key is not None
        ]


class FieldRowForm(Form):
    """One proposed field (信息项) on the confirm page: the steward's title, type and flag."""

    name = HiddenField()
    keep = BooleanField("导入", default=True)
    title = StringField("中文名称", validators=[Length(max=200, message="名称过长。")])
    type = SelectField("类型", choices=[SelectChoice(t.value, t.label) for t in FieldType])
    sensitive = BooleanField("敏感")


class ConfirmUploadForm(FlaskForm):
    token = HiddenField(validators=[DataRequired("上传凭据缺失，请重新上传。")])
    replace = HiddenField()
    name = StringField("资源名称", validators=[Length(max=500, message="名称过长。")])
    description = TextAreaField("资源说明", validators=[Length(max=10_000, message="说明过长。")])
    columns = FieldList(FormField(FieldRowForm))
    skip_ragged_rows = BooleanField("跳过列数与表头不符的行，导入其余数据")
    cancel = SubmitField("取消上传")

    @classmethod
    def for_proposal(cls, proposal, replaced=None) -> "ConfirmUploadForm":
        """The confirm form filled with the proposal (and the replaced resource's name and
        description), not with the upload form's data of this request."""
        table = proposal.table
        columns = [
            {
                "name": f.name,
                "keep": True,
                "title": f.title,
                "type": f.type,
                "sensitive": f.sensitive,
            }
            for f in (table.fields if table is not None else [])
        ]
        if replaced is not None:
            name, description = replaced.name, replaced.description
        else:
            stem, dot, _extension = proposal.file_name.rpartition(".")
            name, description = (stem if dot and stem else proposal.file_name), ""
        data = {
            "token": proposal.token,
            "replace": replaced.id if replaced is not None else "",
            "name": name,
            "description": description,
            "columns": columns,
        }
        return cls(formdata=None, data=data)

    def chosen_fields(self) -> list[dict]:
        return [
            {
                "name": row.form.name.data,
                "title": row.form.title.data or "",
                "type": row.form.type.data,
                "sensitive": bool(row.form.sensitive.data),
            }
            for row in self.columns
            if row.form.keep.data
        ]

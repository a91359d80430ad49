"""Server-rendered pages (zh-CN first); they read through the same services as the API.

Each view parses its arguments, calls the catalog's services and renders a template.
Errors become HTML pages here, while everything under /api/ keeps its JSON errors.
"""

import dataclasses
import html
import re
from datetime import date, datetime, timedelta, timezone

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from api import API_DOCS_PATH
from api.context import SESSION_USER_KEY, backends, current_actor, db
from api.errors import STATUS_OF
from api.uploads.resources import current_uploads
from catalog.errors import CatalogError, Conflict, InvalidInput, Unauthorized
from catalog.filters import DATASET_FILTERS, FILTERS_BY_PARAM
from catalog.policy import Action, Actor, can
from catalog.services.datasets import catalog_statistics, get_dataset
from catalog.services.departments import get_department_summary, list_departments
from catalog.services.search import SORTS, DatasetQuery, resolve_filter_values, search_datasets
from catalog.services.upload_confirm import Confirmation, confirm_upload
from catalog.services.upload_files import FileTooLarge, IncomingFile
from catalog.services.uploads import (
    discard_upload,
    editable_dataset,
    review_upload,
    stage_upload,
)
from catalog.services.users import check_password
from catalog.vocab import (
    DatasetState,
    FieldType,
    LabelledEnum,
    OpenType,
    ShareMethod,
    ShareType,
    UpdateFrequency,
)
from harvesters import uploads as upload_ingestion
from portal.forms import (
    SORT_LABELS,
    ConfirmUploadForm,
    DatasetSearchForm,
    InvalidSearch,
    LoginForm,
    UploadForm,
    safe_next,
)

pages = Blueprint("pages", __name__, template_folder="templates")
csrf = CSRFProtect()

API_PATHS = "/api/"
# China has kept one offset without daylight saving since 1991: dates shown are Beijing dates.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
LATEST_ON_HOME = 6
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Same-origin referrers only: Flask-WTF checks the referrer of HTTPS form posts.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}


@pages.route("/")
def home():
    actor = current_actor()
    statistics = catalog_statistics(db(), actor)
    latest = search_datasets(
        db(),
        backends().catalog_index,
        actor,
        DatasetQuery(sort="modified", per_page=LATEST_ON_HOME),
    )
    return render_template(
        "home.html", statistics=statistics, latest=latest.items, themes=latest.facets["theme"]
    )


@pages.route("/datasets")
def datasets():
    form = DatasetSearchForm.parse(request.args)
    # A label is taken for its code; a value no vocabulary holds is left out, and the page
    # says so rather than show an empty result.
    filters, unknown = resolve_filter_values(form.filters)
    form = dataclasses.replace(form, filters={param: v for param, v in filters.items() if v})
    result = search_datasets(db(), backends().catalog_index, current_actor(), form.query())
    ignored = [
        (FILTERS_BY_PARAM[param].label, values, FILTERS_BY_PARAM[param].vocabulary)
        for param, values in unknown.items()
    ]
    return render_template(
        "datasets/search.html", form=form, result=result, filters=DATASET_FILTERS, ignored=ignored
    )


@pages.route("/datasets/<slug>")
def dataset(slug: str):
    actor = current_actor()
    found = get_dataset(db(), actor, slug)
    return render_template(
        "datasets/show.html",
        dataset=found,
        may_read_data=can(actor, Action.READ_DATA, found),
        may_edit=can(actor, Action.EDIT, found),
    )


# --- Steward uploads: a file, then its proposal confirmed ------------------------------------


@pages.route("/datasets/<slug>/upload", methods=["GET", "POST"])
def upload(slug: str):
    """The upload form; a file sent is staged and its proposal shown for confirmation."""
    actor = current_actor()
    found = editable_dataset(db(), actor, slug)
    form = UploadForm()
    form.offer_versions_of(found.resources)
    if not form.is_submitted():
        form.replace.data = request.args.get("replace", "")
    error, status = None, 200
    if form.validate_on_submit():
        part = form.file.data
        try:
            proposal = stage_upload(
                db(),
                actor,
                current_uploads(),
                slug,
                lambda: IncomingFile(part.stream, part.filename or "", part.mimetype),
            )
        except (InvalidInput, FileTooLarge) as refusal:
            error, status = refusal.message, 413 if isinstance(refusal, FileTooLarge) else 422
        else:
            replaced = next((r for r in found.resources if r.id == form.replace.data), None)
            return _confirm_page(
                found, ConfirmUploadForm.for_proposal(proposal, replaced), proposal
            )
    elif form.is_submitted():
        status = 422
    return render_template(
        "datasets/upload.html", dataset=found, form=form, error=error, max_bytes=_max_bytes()
    ), status


@pages.route("/datasets/<slug>/upload/confirm", methods=["POST"])
def confirm_upload_page(slug: str):
    """Confirm a proposal (CSRF-checked): the resource or version is saved and its records
    loaded; a refusal shows the proposal again with why."""
    actor = current_actor()
    found = editable_dataset(db(), actor, slug)
    form = ConfirmUploadForm()
    uploads = current_uploads()
    if form.cancel.data and form.token.data:
        discard_upload(db(), actor, uploads, slug, form.token.data)
        flash("已取消上传，文件未保存。")
        return redirect(url_for("pages.dataset", slug=slug), 303)
    error = None
    if form.validate_on_submit():
        confirmation = Confirmation(
            token=form.token.data,
            name=form.name.data or None,
            description=form.description.data,
            fields=form.chosen_fields() if form.columns.entries else None,
            skip_ragged_rows=bool(form.skip_ragged_rows.data),
        )
        try:
            confirmed = confirm_upload(
                db(), actor, uploads, slug, confirmation, form.replace.data or None
            )
        except (InvalidInput, Conflict) as refusal:
            error = refusal.message
        else:
            rows = confirmed.table.rows_loaded if confirmed.table is not None else None
            flash(
                f"已保存「{confirmed.resource.name}」第 {confirmed.version} 版"
                + (f"，导入 {rows:,} 条记录。" if rows is not None else "。")
            )
            return redirect(url_for("pages.dataset", slug=slug), 303)
    try:
        proposal = review_upload(db(), actor, uploads, slug, form.token.data or "")
    except InvalidInput as gone:
        flash(gone.message)
        return redirect(url_for("pages.upload", slug=slug), 303)
    return _confirm_page(found, form, proposal, error, 422)


def _confirm_page(found, form, proposal, error: str | None = None, status: int = 200):
    body = render_template(
        "datasets/upload_confirm.html", dataset=found, form=form, proposal=proposal, error=error
    )
    return body, status


def _max_bytes() -> int:
    return current_app.extensions["opendata.settings"].max_upload_bytes


@pages.route("/departments")
def departments():
    return render_template(
        "departments/list.html", departments=list_departments(db(), current_actor())
    )


@pages.route("/departments/<slug>")
def department(slug: str):
    form = DatasetSearchForm.parse(request.args)
    actor = current_actor()
    summary = get_department_summary(db(), actor, slug)
    query = DatasetQuery(
        filters={"department": [summary.department.slug]},
        sort="modified",
        page=form.page,
        per_page=form.page_size,
    )
    result = search_datasets(db(), backends().catalog_index, actor, query)
    return render_template(
        "departments/show.html", department=summary.department, result=result, form=form
    )


@pages.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next")) or ""
    error = None
    if form.validate_on_submit():
        try:
            user = check_password(db(), form.name.data, form.password.data)
        except Unauthorized:
            # One message for an unknown name and a wrong password: no user enumeration.
            error = "用户名或密码错误。"
        else:
            session.clear()
            session[SESSION_USER_KEY] = user.id
            flash("登录成功。")
            return redirect(safe_next(form.next.data) or url_for("pages.home"), 303)
    return render_template("login.html", form=form, error=error)


@pages.route("/logout", methods=["POST"])
def logout():
    # CSRFProtect has checked the form's token before this runs.
    session.clear()
    flash("您已退出登录。")
    return redirect(url_for("pages.home"), 303)


# --- Errors ------------------------------------------------------------------------------

ERROR_TEXT = {
    400: ("请求有误", "请求的参数无效，请检查后重试。"),
    401: ("需要登录", "身份验证失败或已过期，请重新登录。"),
    403: ("无权访问", "您没有执行此操作的权限。"),
    404: ("页面不存在", "您访问的页面不存在，或您没有查看权限。"),
    405: ("请求方式不允许", "此页面不接受该请求方式。"),
    413: ("文件过大", "上传的文件超过了平台允许的大小。"),
    500: ("服务器错误", "服务器处理请求时出错，请稍后再试。"),
}


def error_page(status: int, message: str | None = None):
    title, default_message = ERROR_TEXT.get(status, ("出错了", "请求未能完成。"))
    body = render_template(
        "error.html", status=status, title=title, message=message or default_message
    )
    return body, status


@pages.errorhandler(CatalogError)
def catalog_error(error: CatalogError):
    # The same status for each refusal as the API gives it, as a page.
    return error_page(STATUS_OF.get(type(error), 400))


def _html_errors_outside_api(app: Flask) -> None:
    """HTML pages for HTTP errors (unknown URLs, 405, CSRF failures, 500) except under
    /api/, where the handler registered before ours (flask-smorest's JSON one) still answers.
    """
    api_handler = app.error_handler_spec[None][None].get(HTTPException)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith(API_PATHS):
            return api_handler(error) if api_handler is not None else error
        if isinstance(error, CSRFError):
            message = "页面已过期或缺少安全令牌，请返回上一页刷新后重试。"
        elif isinstance(error, InvalidSearch):
            message = error.description  # ours, in Chinese, naming the bad argument
        else:
            message = None  # Werkzeug's descriptions are English: use our Chinese text
        body, status = error_page(error.code or 500, message)
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return body, status, headers


# --- Template helpers ----------------------------------------------------------------------


@pages.app_template_filter("ymd")
def format_date(value: date | datetime | None) -> str:
    """YYYY-MM-DD, in Beijing time for moments."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(CHINA_TIME).date()
    return value.strftime("%Y-%m-%d")


@pages.app_template_filter("filesize")
def format_file_size(size: int | None) -> str:
    if size is None:
        return "—"
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


@pages.app_template_filter("thousands")
def format_thousands(number: int | None) -> str:
    return "—" if number is None else f"{number:,}"


@pages.app_template_filter("label_in")
def vocabulary_label(code: str | None, vocabulary: type[LabelledEnum]) -> str:
    """The Chinese label of a code; the code itself if the vocabulary does not know it."""
    if not code:
        return ""
    try:
        return vocabulary(code).label
    except ValueError:
        return code


_MARK_TAG = re.compile(r"(</?mark>)")


@pages.app_template_filter("marked")
def marked_snippet(fragment: str | None) -> Markup:
    """A search engine's highlight (escaped text with ``<mark>`` around the words found),
    rebuilt from pieces escaped here: whatever an engine returns, only <mark> gets through.
    """
    pieces, inside = [], False
    for piece in _MARK_TAG.split(fragment or ""):
        if piece == "<mark>" and not inside:
            pieces.append(piece)
            inside = True
        elif piece == "</mark>" and inside:
            pieces.append(piece)
            inside = False
        elif piece not in ("<mark>", "</mark>"):
            pieces.append(escape(html.unescape(piece)))
    if inside:
        pieces.append("</mark>")
    return Markup("".join(pieces))  # noqa: S704 - built from escaped pieces and <mark> only


@pages.app_template_filter("http_url")
def http_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None, so no javascript: link is ever rendered."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


@pages.app_context_processor
def layout_values() -> dict:
    try:
        viewer = current_actor()
    except Unauthorized:
        # A bad token on an error page: render the page as for anyone, the view has failed.
        viewer = Actor.anonymous()
    here = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return {
        "site_name": current_app.extensions["opendata.settings"].site_name,
        "viewer": viewer,
        "login_next": safe_next(here) if request.endpoint != "pages.login" else None,
        "api_docs_url": API_DOCS_PATH,
    }


# Constants the templates and their imported macros read (macros see globals, not context).
TEMPLATE_CONSTANTS = {
    "sorts": SORTS,
    "sort_labels": SORT_LABELS,
    "OpenType": OpenType,
    "ShareType": ShareType,
    "ShareMethod": ShareMethod,
    "UpdateFrequency": UpdateFrequency,
    "DatasetState": DatasetState,
    "FieldType": FieldType,
}


def _security_headers(response):
    # The API documentation is a page too: its script comes from a file, not inline.
    if not request.path.startswith(API_PATHS) or request.path == API_DOCS_PATH:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _api_blueprints(app: Flask) -> list[Blueprint]:
    """Blueprints all of whose routes lie under /api/: they authenticate with bearer tokens."""
    paths_by_blueprint: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        blueprint_name, dot, _view = rule.endpoint.rpartition(".")
        if dot:
            paths_by_blueprint.setdefault(blueprint_name, []).append(rule.rule)
    return [
        app.blueprints[name]
        for name, paths in paths_by_blueprint.items()
        if name in app.blueprints and all(path.startswith(API_PATHS) for path in paths)
    ]


def init_app(app: Flask) -> None:
    """Register the pages, their error pages and headers, and CSRF protection.

    CSRF is checked on every POST/PUT/PATCH/DELETE by default, and only the blueprints
    that serve nothing but /api/ are exempt: a blueprint added later is protected unless
    it is an API one, so forgetting a decorator cannot open a hole.
    """
    app.register_blueprint(pages)
    # The tabular ingestion the upload pages and the upload API hand to the services.
    upload_ingestion.init_app(app)
    app.jinja_env.globals.update(TEMPLATE_CONSTANTS)
    csrf.init_app(app)
    for blueprint in _api_blueprints(app):
        csrf.exempt(blueprint)
    _html_errors_outside_api(app)
    app.after_request(_security_headers)

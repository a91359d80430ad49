"""Controlled vocabularies of the government information resource catalog.

Values are stored as short ASCII codes; each carries its Chinese label for pages and exports.
"""

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members carry a Chinese label: ``Member = ("code", "标签")``."""

    label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def from_code_or_label(cls, text: str):
        """Accept either the code (``conditional``) or the Chinese label (``有条件开放``)."""
        for member in cls:
            if text in (member.value, member.label):
                return member
        raise ValueError(f"{text!r} is not one of {', '.join(cls.codes())}")

    @classmethod
    def codes(cls) -> list[str]:
        return [member.value for member in cls]


class OpenType(LabelledEnum):
    """开放类型: what the public may see."""

    UNCONDITIONAL = ("unconditional", "无条件开放")
    CONDITIONAL = ("conditional", "有条件开放")
    NOT_OPEN = ("not_open", "不予开放")


class ShareType(LabelledEnum):
    """共享类型: what other government departments may see."""

    UNCONDITIONAL = ("unconditional", "无条件共享")
    CONDITIONAL = ("conditional", "有条件共享")
    NOT_SHARED = ("not_shared", "不予共享")


class ShareMethod(LabelledEnum):
    """共享方式."""

    API = ("api", "接口")
    FILE = ("file", "文件下载")
    DATABASE = ("database", "数据库")


class UpdateFrequency(LabelledEnum):
    """更新频率."""

    REALTIME = ("realtime", "实时")
    DAILY = ("daily", "每日")
    WEEKLY = ("weekly", "每周")
    MONTHLY = ("monthly", "每月")
    QUARTERLY = ("quarterly", "每季度")
    SEMIANNUAL = ("semiannual", "每半年")
    ANNUAL = ("annual", "每年")
    OTHER = ("other", "其他")


class DatasetState(LabelledEnum):
    DRAFT = ("draft", "草稿")
    PUBLISHED = ("published", "已发布")
    WITHDRAWN = ("withdrawn", "已撤回")


class Role(LabelledEnum):
    """A user's role in a department."""

    MEMBER = ("member", "成员")
    EDITOR = ("editor", "编辑")
    ADMIN = ("admin", "管理员")


class TokenScope(LabelledEnum):
    READ = ("read", "只读")
    WRITE = ("write", "读写")


class FieldType(LabelledEnum):
    """Types of a tabular resource's fields (信息项)."""

    TEXT = ("text", "文本")
    INTEGER = ("integer", "整数")
    NUMBER = ("number", "数值")
    DATE = ("date", "日期")
    DATETIME = ("datetime", "日期时间")
    BOOLEAN = ("boolean", "布尔")
    GEO_POINT = ("geo_point", "地理坐标")

"""The attachment header of downloads and exports: the name kept whole in any script, and
nothing in it that could end the header or name a folder."""

from urllib.parse import unquote

import pytest

from catalog.storage.disposition import attachment, with_extension


def _parts(header: str) -> tuple[str, str]:
    plain = header.split('filename="')[1].split('"')[0]
    return plain, unquote(header.split("filename*=UTF-8''")[1])


@pytest.mark.parametrize(
    ("name", "plain", "full"),
    [
        ("学校名录.csv", "download.csv", "学校名录.csv"),
        ("禅城区 学校名录 2024.csv", "2024.csv", "禅城区 学校名录 2024.csv"),
        ("schools.csv", "schools.csv", "schools.csv"),
        ('a"b\\c/d.csv', "abcd.csv", "abcd.csv"),
        ("名单\r\nSet-Cookie: x=1.csv", "Set-Cookie: x=1.csv", "名单Set-Cookie: x=1.csv"),
        ("", "download", "download"),
        ("\x00\x07", "download", "download"),
    ],
)
def test_attachment_keeps_the_name_and_nothing_dangerous(name, plain, full):
    header = attachment(name)
    assert header.startswith("attachment; ")
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert _parts(header) == (plain, full)


def test_the_extension_is_added_once():
    assert with_extension("学校名录", "csv") == "学校名录.csv"
    assert with_extension("学校名录.CSV", "csv") == "学校名录.CSV"
    assert with_extension("学校名录", "") == "学校名录"

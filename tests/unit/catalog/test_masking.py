import pytest

from catalog.masking import mask, mask_row


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("440604199001011234", "440604********1234"),
        ("44060419900101123X", "440604********123X"),
        ("13812345678", "138****5678"),
        ("张三", "张*"),
        ("欧阳明华", "欧***"),
        ("0757-82345678", "075*******678"),
        ("ab", "**"),
        (None, None),
    ],
)
def test_mask_keeps_just_enough(value, masked):
    assert mask(value) == masked


def test_mask_row_touches_only_sensitive_fields():
    row = {"_id": 1, "name": "李四", "school": "祖庙小学"}
    assert mask_row(row, frozenset({"name"})) == {"_id": 1, "name": "李*", "school": "祖庙小学"}

"""Well-formed Chinese identifiers: the check characters of their national standards."""

# GB 11643-1999 (居民身份证号码) check digit.
ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK_CHARS = "10X98765432"
# GB 32100-2015 (统一社会信用代码): the 31 characters it uses and the position weights.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 (组织机构代码), the 9-character body of a USCC.
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def id_card_check_char(first17: str) -> str:
    """The GB 11643 check character of an 18-digit 居民身份证号."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK_CHARS[total % 11]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character of an organisation code."""
    total = sum(
        int(char, 36) * weight for char, weight in zip(first8, ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of an 18-character 统一社会信用代码."""
    total = sum(
        USCC_CHARS.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARS[(31 - total % 31) % 31]


def make_uscc(registry_and_kind: str, region: str, org_body: str) -> str:
    """A well-formed USCC from its parts, e.g. ("91", "440604", "MA4UL1234")."""
    org_code = org_body + org_code_check_char(org_body)
    first17 = registry_and_kind + region + org_code
    return first17 + uscc_check_char(first17)

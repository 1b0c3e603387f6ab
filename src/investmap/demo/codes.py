"""Identifiers that look real: unified social credit codes, phone numbers, people.

The unified social credit code (统一社会信用代码, GB 32100-2015) is 18
characters: registration authority (9 = market regulation), entity type
(1 = enterprise), 6-digit administrative division, the 9-character
organisation code (GB 11714, with its own check character) and a final check
character over the first 17 (weights 3^i mod 31 over the 31-character set).
"""

from . import vocab
from .draws import Stream, Weighted

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
# Characters allowed in the body of a new-style organisation code (no I, O, S, V, Z).
_ORG_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - 55  # A=10 … Z=35 (GB 11714)


def org_check(body8: str) -> str:
    s = sum(_org_value(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    v = 11 - s % 11
    return "X" if v == 10 else "0" if v == 11 else str(v)


def uscc_check(first17: str) -> str:
    s = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - s % 31) % 31]


def uscc_valid(code: str) -> bool:
    """Both check characters of an 18-character unified social credit code are right."""
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        return False
    org = code[8:17]
    return org_check(org[:8]) == org[8] and uscc_check(code[:17]) == code[17]


def credit_code(rs: Stream, *, division: str, founded_year: int) -> str:
    """A valid-looking code; companies founded after 2015 get the new 'MA' organisation codes."""
    if founded_year >= 2016:
        body = "MA" + "".join(rs.pick(_ORG_BODY) for _ in range(6))
    else:
        body = str(rs.integers(1, 10)) + rs.digits(7)
    org = body + org_check(body)
    first17 = "91" + division + org
    return first17 + uscc_check(first17)


# Mobile prefixes of the three operators (a plausible subset).
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]


def mobile(rs: Stream) -> str:
    return rs.pick(MOBILE_PREFIXES) + rs.digits(8)


# Surnames: the common ones much more often (a Zipf-like curve).
_SURNAMES = Weighted(vocab.SURNAMES, [1.0 / (i + 1) ** 0.9 for i in range(len(vocab.SURNAMES))])


def person(rs: Stream) -> tuple[str, str]:
    """(Chinese name, e-mail local part): 2- or 3-character names, mostly 3."""
    sur, sur_py = _SURNAMES.draw(rs)
    n = 1 if rs.random() < 0.28 else 2
    given = [rs.pick(vocab.GIVEN) for _ in range(n)]
    name = sur + "".join(g for g, _ in given)
    local = sur_py + "".join(p for _, p in given)
    return name, local

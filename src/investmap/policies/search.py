"""Policy search (SPEC S2): filters and Chinese full-text search, the same on SQLite and PostgreSQL.

Design and measurements: docs/adr/0009-policy-search.md. In short:

* **Normalisation** (`normalize`) maps every character to exactly one character
  (NFKC: full-width → half-width; case folding; whitespace and control
  characters → space; characters outside the BMP → U+FFFD), so a position in
  the normalised text is the same position in the original — highlights mark
  the original text.
* **Index** = `Policy.search_text`, written by `reindex(policy)` (the importer
  calls it): the normalised title, interpretation, text and issuer, behind a
  format marker. Rows without a current marker are indexed from their fields
  on the fly, so a stale or empty `search_text` is slower, never wrong.
* **Matching** runs in Python (numpy) over the whole library held per process
  as one UTF-16 code array per field, keyed by a token of the policy table
  (count, ids, versions, last update): a change anywhere is seen by every
  process at its next search. No SQL beyond plain selects, so SQLite and
  PostgreSQL give the same results by construction.
* **Terms**: overlapping bigrams of CJK runs (a lone CJK character is a
  unigram), whole words for Latin letters and digits ("r&d", "2025", "5g").
* **Ranking**: BM25F over the terms with field weights (title > interpretation
  > text, issuer), multiplied by the idf-weighted share of query terms the
  policy holds, plus a phrase score for each CJK run of three or more
  characters found with at most one differing character. A policy matches when
  it holds at least half of the query's weight — after forgiving, in each run,
  the two heaviest bigrams it lacks (what one wrong, missing or extra character
  breaks) — or such a phrase. So "高薪技术企业" still finds "高新技术企业" first,
  while a query that shares only common bigrams ("技术", "企业") finds nothing.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import threading
import unicodedata
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils.translation import gettext as _

from investmap.resources.services import InvalidFilter

from .choices import Level, PolicyType, Tag, Validity
from .models import Policy

# --- parameters ---------------------------------------------------------------

FORMAT = "policy-search/1"  # first line of search_text; change it when the layout changes
FIELDS = ("title", "interpretation", "text", "issuer")
WEIGHTS = {"title": 3.0, "interpretation": 1.5, "text": 1.0, "issuer": 1.0}
K1, B = 1.2, 0.75  # BM25
MIN_SHARE = 0.5  # share of the query's idf weight a policy must hold (without a phrase hit)
FORGIVEN = 2  # missing bigrams forgiven per CJK run: as many as one wrong character breaks
FUZZY_WEIGHT = 0.5  # a phrase occurrence with a differing character counts half
EXPIRING_DAYS = 30
MAX_QUERY_CHARS = 100
MAX_LIMIT = 200
SNIPPET_CHARS = 120
FILTER_NAMES = ("tags", "level", "type", "issuer", "industry", "validity")

_SEP = "\x1e"  # between fields in search_text; normalisation never leaves one in the text
_GAP = 2  # NULs between documents in a field array: more than the differences a phrase allows
_PAD = MAX_QUERY_CHARS + _GAP  # trailing NULs, so that p + k never leaves the array

CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\ufffd"
)
_WORD_CHAR = rf"[^\W_{CJK}]"
_TOKEN = re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<word>{_WORD_CHAR}+(?:[&.+\-/']{_WORD_CHAR}+)*)")
_INDUSTRY = re.compile(r"^[A-Z](\d{1,4})?$")


# --- normalisation and terms ------------------------------------------------------


class _CharMap(dict):
    """code point → its one-character normal form (filled on first use)."""

    def __missing__(self, cp: int) -> str:
        c = chr(cp)
        if cp > 0xFFFF or 0xD800 <= cp <= 0xDFFF:
            out = "\ufffd"
        elif c.isspace() or unicodedata.category(c)[0] == "C":
            out = " "
        else:
            out = unicodedata.normalize("NFKC", c).casefold()
            if len(out) != 1:
                out = c.lower() if len(c.lower()) == 1 else c
            if ord(out) > 0xFFFF or unicodedata.category(out)[0] == "C":
                out = "\ufffd" if ord(out) > 0xFFFF else " "
        self[cp] = out
        return out


_CHARS = _CharMap()


def normalize(text: str) -> str:
    """The search form of `text`, character for character (same length, same positions)."""
    return (text or "").translate(_CHARS)


@dataclass(frozen=True)
class Term:
    kind: str  # "cjk" (a bigram or a lone character) or "word"
    text: str


@dataclass(frozen=True)
class Segment:
    kind: str  # "cjk" or "word"
    text: str

    def terms(self) -> list[Term]:
        if self.kind == "word" or len(self.text) == 1:
            return [Term(self.kind, self.text)]
        return [Term("cjk", self.text[i : i + 2]) for i in range(len(self.text) - 1)]

    @property
    def allowed(self) -> int:
        """How many characters of a phrase may differ (0: no phrase matching or forgiving)."""
        return 1 if self.kind == "cjk" and len(self.text) >= 3 else 0


def segments(query: str) -> list[Segment]:
    """The CJK runs and Latin/digit words of a query, normalised, in order."""
    return [
        Segment("cjk" if m.lastgroup == "cjk" else "word", m.group())
        for m in _TOKEN.finditer(normalize(query))
    ]


def _distinct_terms(segs: list[Segment]) -> list[Term]:
    seen: dict[Term, None] = {}
    for s in segs:
        for t in s.terms():
            seen.setdefault(t, None)
    return list(seen)


# --- validity ------------------------------------------------------------------------


def validity(policy, as_of: dt.date) -> str:
    """The state of `policy` on `as_of` (a `choices.Validity` value).

    In force from `valid_from` through `valid_to`, both inclusive (either may be
    open); "expiring" when in force and `valid_to` is at most 30 days away — the
    last day itself included.
    """
    start, end = policy.valid_from, policy.valid_to
    if start is not None and as_of < start:
        return Validity.NOT_YET
    if end is not None and as_of > end:
        return Validity.EXPIRED
    if end is not None and (end - as_of).days <= EXPIRING_DAYS:
        return Validity.EXPIRING
    return Validity.IN_FORCE


# --- the stored index -----------------------------------------------------------------


def index_text(policy) -> str:
    """The `search_text` of a policy: marker, then its normalised fields."""
    return "\n".join([FORMAT, _SEP.join(normalize(getattr(policy, f) or "") for f in FIELDS)])


def _parse_index_text(text: str) -> list[str] | None:
    head, _nl, body = (text or "").partition("\n")
    if head != FORMAT:
        return None
    parts = body.split(_SEP)
    return parts if len(parts) == len(FIELDS) else None


def reindex(policy: Policy) -> bool:
    """Bring `policy.search_text` up to date with its fields; True if it changed.

    Idempotent. The policy importer calls it after saving the head; the
    search token (which includes `updated_at`) then changes for every process.
    """
    text = index_text(policy)
    if policy.search_text == text:
        return False
    with transaction.atomic():
        policy.search_text = text
        policy.save(update_fields=["search_text", "updated_at"])
    return True


def reindex_all() -> int:
    """`reindex` every policy (after a change of FORMAT); the number rewritten."""
    changed = 0
    for policy in Policy.objects.order_by("id").iterator(chunk_size=200):
        changed += reindex(policy)
    return changed


# --- the in-process library ------------------------------------------------------------


@dataclass
class _Field:
    """One field of every policy as a UTF-16 code array, documents separated by NULs."""

    codes: np.ndarray  # uint16
    starts: np.ndarray  # int64, start of each document
    lengths: np.ndarray  # float64, characters of each document
    norm: np.ndarray  # BM25 length normalisation of each document
    # With `indexed`: int32 positions grouped by code (ascending within a code) and
    # their bounds, so that the positions of code c are order[bounds[c]:bounds[c + 1]].
    order: np.ndarray | None = None
    bounds: np.ndarray | None = None

    @classmethod
    def build(cls, texts: list[str], indexed: bool = True) -> _Field:
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        starts = np.zeros(len(texts), dtype=np.int64)
        if len(texts):
            starts[1:] = np.cumsum(lengths[:-1] + _GAP)
        joined = ("\0" * _GAP).join(texts) + "\0" * _PAD
        codes = np.frombuffer(joined.encode("utf-16-le"), dtype=np.uint16)
        filled = lengths[lengths > 0]  # average over documents that have the field (as Lucene)
        avg = float(filled.mean()) if len(filled) else 1.0
        norm = 1.0 - B + B * lengths / avg
        field = cls(codes, starts, lengths.astype(float), norm)
        if indexed:
            field.order = np.argsort(codes, kind="stable").astype(np.int32)  # radix sort (uint16)
            field.bounds = np.zeros(0x10001, dtype=np.int64)
            np.cumsum(np.bincount(codes, minlength=0x10000), out=field.bounds[1:])
        return field

    def positions(self, ch: str) -> np.ndarray:
        c = ord(ch)
        if self.order is None:  # a single document (highlights): a scan is cheaper
            return np.flatnonzero(self.codes == c)
        return self.order[self.bounds[c] : self.bounds[c + 1]]

    def doc_of(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, positions, side="right") - 1

    def term(self, term: Term) -> np.ndarray:
        """Start positions of `term` (a word only between non-word characters)."""
        codes, text = self.codes, term.text
        p = self.positions(text[0])
        for k in range(1, len(text)):
            if not len(p):
                break
            p = p[codes[p + k] == ord(text[k])]
        if term.kind == "word" and len(p):
            word = _word_table()
            before = np.ones(len(p), dtype=bool)
            inner = p > 0
            before[inner] = ~word[codes[p[inner] - 1]]
            p = p[before & ~word[codes[p + len(text)]]]
        return p

    def phrase(self, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
        """(start positions, exact?) of `seg` with at most `seg.allowed` (one) differing character.

        With one character allowed to differ, the first or the second is in place:
        the candidates are their positions, and each is checked character by character.
        """
        text, codes = seg.text, self.codes
        cand = np.concatenate([self.positions(text[0]), self.positions(text[1]) - 1])
        cand = cand[cand >= 0]
        same = np.zeros(len(cand), dtype=np.int16)
        for i, ch in enumerate(text):
            same += codes[cand + i] == ord(ch)
        keep = same >= len(text) - seg.allowed
        hits, first = np.unique(cand[keep], return_index=True)
        return hits, same[keep][first] == len(text)


_WORD: np.ndarray | None = None


def _word_table() -> np.ndarray:
    """For each UTF-16 code: is it a word character (letter or digit, not CJK)?"""
    global _WORD
    if _WORD is None:
        pattern = re.compile(_WORD_CHAR)
        _WORD = np.array([bool(pattern.match(chr(c))) for c in range(0x10000)], dtype=bool)
    return _WORD


@dataclass
class _Meta:
    id: int
    code: str
    level: str
    policy_type: str
    issuer: str  # normalised
    published_on: dt.date | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    tags: tuple
    industries: tuple


class _Library:
    """Every policy's filter fields; its text arrays are loaded on the first query that needs them."""

    def __init__(self, token: tuple, meta: list[_Meta]):
        self.token, self.meta = token, meta
        self._fields: dict[str, _Field] | None = None

    @property
    def size(self) -> int:
        return len(self.meta)

    def fields(self) -> dict[str, _Field]:
        if self._fields is None:
            with _lock:
                if self._fields is None:
                    self._fields = _load_fields(self.meta)
        return self._fields


_lock = threading.Lock()
_library: _Library | None = None


def _token() -> tuple:
    agg = Policy.objects.aggregate(
        n=Count("id"), top=Max("id"), ids=Sum("id"), versions=Sum("version"), at=Max("updated_at")
    )
    return (agg["n"], agg["top"], agg["ids"], agg["versions"], agg["at"])


def _load(token: tuple) -> _Library:
    rows = Policy.objects.order_by("id").values_list(
        "id",
        "code",
        "level",
        "policy_type",
        "issuer",
        "published_on",
        "valid_from",
        "valid_to",
        "tags",
        "industries",
    )
    meta = [
        _Meta(
            id=row[0],
            code=row[1],
            level=row[2],
            policy_type=row[3],
            issuer=normalize(row[4]),
            published_on=row[5],
            valid_from=row[6],
            valid_to=row[7],
            tags=tuple(str(t) for t in (row[8] or [])),
            industries=tuple(str(c).strip().upper() for c in (row[9] or [])),
        )
        for row in rows
    ]
    return _Library(token, meta)


def _load_fields(meta: list[_Meta]) -> dict[str, _Field]:
    """The text arrays, from search_text; a policy whose search_text is not in the
    current FORMAT is indexed from its fields (slower, never wrong)."""
    at = {m.id: i for i, m in enumerate(meta)}
    texts = [[""] * len(FIELDS) for _m in meta]
    stale = []
    for pk, search_text in Policy.objects.order_by("id").values_list("id", "search_text"):
        if pk not in at:  # created after the token was read: the next search sees it
            continue
        parts = _parse_index_text(search_text)
        if parts is None:
            stale.append(pk)
        else:
            texts[at[pk]] = parts
    for k in range(0, len(stale), 500):
        for row in Policy.objects.filter(id__in=stale[k : k + 500]).values_list("id", *FIELDS):
            texts[at[row[0]]] = [normalize(v or "") for v in row[1:]]
    return {f: _Field.build([t[j] for t in texts]) for j, f in enumerate(FIELDS)}


def _current_library() -> _Library:
    global _library
    token = _token()
    lib = _library
    if lib is not None and lib.token == token:
        return lib
    with _lock:
        if _library is None or _library.token != token:
            _library = _load(token)
        return _library


# --- filters -----------------------------------------------------------------------------


def _values(raw) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple | set) else str(raw).split(",")
    return [str(v).strip() for v in items if v is not None and str(v).strip()]


def _choice(name: str, raw, accepted: list[str], errors: dict) -> set[str] | None:
    values = _values(raw)
    bad = [v for v in values if v not in accepted]
    if bad:
        errors[name] = _("Not accepted: %(bad)s. Accepted values: %(ok)s.") % {
            "bad": ", ".join(bad),
            "ok": ", ".join(accepted),
        }
    return set(values) or None


def _parse_filters(filters: dict | None, lib: _Library) -> dict:
    filters = dict(filters or {})
    errors: dict[str, str] = {}
    for name in filters:
        if name not in FILTER_NAMES:
            errors[name] = _("Unknown filter. Accepted filters: %(names)s.") % {
                "names": ", ".join(FILTER_NAMES)
            }
    known_tags = list(Tag.values) + sorted({t for m in lib.meta for t in m.tags} - set(Tag.values))
    parsed = {
        "tags": _choice("tags", filters.get("tags"), known_tags, errors),
        "level": _choice("level", filters.get("level"), list(Level.values), errors),
        "type": _choice("type", filters.get("type"), list(PolicyType.values), errors),
        "validity": _choice("validity", filters.get("validity"), list(Validity.values), errors),
    }
    issuer = filters.get("issuer")
    if isinstance(issuer, list | tuple):
        errors["issuer"] = _("Give one issuing body (any part of its name).")
    elif issuer is not None and len(str(issuer)) > 200:
        errors["issuer"] = _("At most 200 characters.")
    parsed["issuer"] = normalize(str(issuer)).strip() if issuer and not errors.get("issuer") else ""
    industries = [v.upper() for v in _values(filters.get("industry"))]
    bad = [v for v in industries if not _INDUSTRY.match(v)]
    if bad:
        errors["industry"] = _(
            "Not an industry code: %(bad)s. Accepted: a GB/T 4754 code or prefix "
            "such as C, C39 or C3911."
        ) % {"bad": ", ".join(bad)}
    parsed["industry"] = industries or None
    if errors:
        raise InvalidFilter(errors)
    return parsed


def _industry_applies(policy_prefixes: tuple, wanted: list[str]) -> bool:
    """A policy without industries applies to all; otherwise one of its prefixes must
    cover a wanted code, or a wanted prefix must cover one of its industries."""
    if not policy_prefixes:
        return True
    return any(c.startswith(p) or p.startswith(c) for p in policy_prefixes for c in wanted)


def _filter_mask(lib: _Library, f: dict, as_of: dt.date) -> np.ndarray:
    states = None
    if f["validity"]:
        states = set(f["validity"])
        if Validity.IN_FORCE in states:  # an expiring policy is still in force
            states.add(Validity.EXPIRING)
    keep = []
    for m in lib.meta:
        ok = (
            (not f["level"] or m.level in f["level"])
            and (not f["type"] or m.policy_type in f["type"])
            and (not f["tags"] or not f["tags"].isdisjoint(m.tags))
            and (not f["issuer"] or f["issuer"] in m.issuer)
            and (not f["industry"] or _industry_applies(m.industries, f["industry"]))
            and (states is None or validity(m, as_of) in states)
        )
        keep.append(ok)
    return np.array(keep, dtype=bool)


# --- ranking --------------------------------------------------------------------------------


def _idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _saturate(x: np.ndarray) -> np.ndarray:
    return x * (K1 + 1.0) / (x + K1)


def _rank(lib: _Library, segs: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """(score, matched) for every policy of the library."""
    n = lib.size
    fields = lib.fields()
    term_score, held, total = np.zeros(n), np.zeros(n), 0.0
    found: dict[Term, tuple[float, np.ndarray]] = {}
    for term in _distinct_terms(segs):
        acc, present = np.zeros(n), np.zeros(n, dtype=bool)
        for name, field in fields.items():
            p = field.term(term)
            if len(p):
                tf = np.bincount(field.doc_of(p), minlength=n)
                acc += WEIGHTS[name] * tf / field.norm
                present |= tf > 0
        idf = _idf(int(present.sum()), n)
        found[term] = (idf, present)
        term_score += idf * _saturate(acc)
        held += idf * present
        total += idf
    # A wrong, missing or extra character breaks up to two bigrams of its run: the
    # FORGIVEN heaviest bigrams a policy lacks in each run leave the denominator.
    forgiven, seen = np.zeros(n), set()
    for seg in segs:
        own = [t for t in dict.fromkeys(seg.terms()) if t not in seen]
        seen.update(own)
        if seg.allowed and own:
            missing = np.array([found[t][0] * ~found[t][1] for t in own])  # (terms, n)
            missing.sort(axis=0)
            forgiven += missing[-FORGIVEN:].sum(axis=0)
    share = np.divide(held, total - forgiven, out=np.zeros(n), where=held > 0)
    phrase_score, phrase_hit = np.zeros(n), np.zeros(n, dtype=bool)
    for seg in segs:
        if not seg.allowed:
            continue
        acc, present = np.zeros(n), np.zeros(n, dtype=bool)
        for name, field in fields.items():
            hits, exact = field.phrase(seg)
            if len(hits):
                weights = np.where(exact, 1.0, FUZZY_WEIGHT)
                tf = np.bincount(field.doc_of(hits), weights=weights, minlength=n)
                acc += WEIGHTS[name] * tf / field.norm
                present |= tf > 0
        idf = _idf(int(present.sum()), n)
        phrase_score += (len(seg.text) - 1) * idf * _saturate(acc)
        phrase_hit |= present
    score = term_score * share + phrase_score
    matched = ((share >= MIN_SHARE) | phrase_hit) & (score > 0)
    return score, matched


# --- highlights -------------------------------------------------------------------------------


def _spans(text: str, segs: list[Segment]) -> list[tuple[int, int]]:
    """Merged (start, end) character ranges of `text` that the query matched."""
    if not text or not segs:
        return []
    field = _Field.build([normalize(text)], indexed=False)
    limit = len(text)
    raw = []
    for term in _distinct_terms(segs):
        raw += [(int(p), int(p) + len(term.text)) for p in field.term(term)]
    for seg in segs:
        if seg.allowed:
            hits, _exact = field.phrase(seg)
            raw += [(int(p), int(p) + len(seg.text)) for p in hits]
    merged: list[list[int]] = []
    for start, end in sorted((s, min(e, limit)) for s, e in raw if s < limit):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _render(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out, at = [], start
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        out.append(html.escape(text[at:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        at = e
    out.append(html.escape(text[at:end]))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _snippet(text: str, spans: list[tuple[int, int]]) -> str:
    """About SNIPPET_CHARS characters of `text` around its densest cluster of matches."""
    if not text:
        return ""
    best, start, marked, j = -1, 0, 0, 0
    for i, (s, _e) in enumerate(spans):  # window [s, s + SNIPPET_CHARS): spans i..j-1
        while j < len(spans) and spans[j][0] < s + SNIPPET_CHARS:
            marked += spans[j][1] - spans[j][0]
            j += 1
        if marked > best:
            best, start = marked, s
        marked -= spans[i][1] - spans[i][0]
    start = max(0, start - SNIPPET_CHARS // 6) if spans else 0
    end = min(len(text), start + SNIPPET_CHARS)
    body = _render(text, spans, start, end)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


def _highlights(policy: Policy, segs: list[Segment]) -> dict:
    title_spans = _spans(policy.title, segs)
    body, spans = policy.text or "", _spans(policy.text, segs)
    if not spans and policy.interpretation:
        alt = _spans(policy.interpretation, segs)
        if alt:
            body, spans = policy.interpretation, alt
    return {
        "title": _render(policy.title, title_spans, 0, len(policy.title)),
        "text": _snippet(body, spans),
    }


# --- the service ----------------------------------------------------------------------------------


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidFilter(
            {"as_of": _("Not a date: %(v)s. Use YYYY-MM-DD.") % {"v": value}}
        ) from None


def _int(name: str, value, low: int, high: int | None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < low or (high is not None and number > high):
        upper = "" if high is None else f"–{high}"
        raise InvalidFilter({name: _("Give a whole number %(r)s.") % {"r": f"{low}{upper}"}})
    return number


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def search(
    *, q: str = "", filters: dict | None, as_of: dt.date, limit: int = 50, offset: int = 0
) -> dict:
    """Policies matching `q` and `filters` on `as_of`, best first.

    `filters` (all optional; a list or a comma-separated string means "any of"):
    `tags`, `level`, `type`, `validity` (`in_force` includes `expiring`), `issuer`
    (any part of the issuing body's name), `industry` (GB/T 4754 code or prefix;
    policies without industries apply to every industry). With an empty `q`,
    policies come newest publication first and `score` is None.
    Raises `InvalidFilter` naming each bad field and what it accepts.
    """
    as_of = _as_date(as_of)
    limit = _int("limit", limit, 1, MAX_LIMIT)
    offset = _int("offset", offset, 0, None)
    q = (q or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidFilter({"q": _("At most %(n)s characters.") % {"n": MAX_QUERY_CHARS}})
    lib = _current_library()
    f = _parse_filters(filters, lib)
    segs = segments(q)
    keep = _filter_mask(lib, f, as_of)
    if segs and lib.size:
        score, matched = _rank(lib, segs)
        keep &= matched
    else:
        score = None
    order = np.flatnonzero(keep).tolist()

    def newest(i):
        m = lib.meta[i]
        return (m.published_on is None, -(m.published_on.toordinal() if m.published_on else 0))

    if score is None:
        order.sort(key=lambda i: (*newest(i), lib.meta[i].code))
    else:
        rounded = np.round(score, 6)  # equal scores fall back to date and code
        order.sort(key=lambda i: (-rounded[i], *newest(i), lib.meta[i].code))
    page = order[offset : offset + limit]
    rows = Policy.objects.defer("search_text").in_bulk([lib.meta[i].id for i in page])
    items = []
    for i in page:
        policy = rows.get(lib.meta[i].id)
        if policy is None:  # deleted since the library was loaded
            continue
        items.append(
            {
                "code": policy.code,
                "title": policy.title,
                "level": policy.level,
                "type": policy.policy_type,
                "issuer": policy.issuer,
                "valid_from": _iso(policy.valid_from),
                "valid_to": _iso(policy.valid_to),
                "validity": str(validity(policy, as_of)),
                "tags": list(policy.tags or []),
                "score": None if score is None else round(float(score[i]), 4),
                "highlights": _highlights(policy, segs),
            }
        )
    return {"count": len(order), "items": items}

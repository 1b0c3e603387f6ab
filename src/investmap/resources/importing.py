"""Imports of the resource library from files (SPEC R6; docs/import-formats.md).

`import_file(kind=…, path_or_file=…, filename=…, dry_run=…)` reads one GeoJSON,
CSV or xlsx file, validates every row and then writes all of it in one
transaction, or nothing: any invalid row means nothing is written and every
error is reported as {row, field, value, message}, the message saying what is
wrong and what would be accepted.

The pipeline, the same for a dry run and a real run (a dry run stops before
the write, so it reports exactly what a real run would):

1. read the file (size limit, format by extension, encoding) into rows of
   named cells; GeoJSON features keep their geometry;
2. `crs="gcj02"`: convert every coordinate to WGS84 in one vectorised call;
3. parse each cell (numbers, dates, enums, codes); a blank cell is unknown
   (None), never 0; a column absent from the file leaves that field untouched;
4. duplicate keys inside the file are errors;
5. resolve references (town, park, parcel, building, enterprise, org unit)
   with one query per referenced table;
6. load the existing records by key; compute shape fields (area, bbox,
   centroid, simplified copy) for new or changed geometries in ONE engine
   batch; assign town / park by containment in one engine batch;
7. compare with the stored records: created / updated (version + 1, a history
   row) / unchanged (nothing written, no history row);
8. write with simple-history's bulk helpers inside `transaction.atomic`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from investmap.core import geo
from investmap.core.choices import OrgKind
from investmap.core.models import DEFAULT_DISTRICT_NAME, OrgUnit, audit
from investmap.engine.geo import locate_points

from . import choices
from .models import (
    Building,
    Enterprise,
    IndicatorYear,
    LandGrant,
    Parcel,
    Park,
    Poi,
    Team,
    TeamMember,
    Town,
)
from .signals import library_changed
from .spatial import mu, shape_fields

# Dependency order: a kind may reference the kinds before it. Parcels name
# their occupying enterprise, so on an empty library import parcels, then
# enterprises, then parcels again to link occupants (docs/import-formats.md).
KINDS = (
    "towns",
    "parks",
    "parcels",
    "buildings",
    "pois",
    "enterprises",
    "indicators",
    "land-grants",
    "teams",
)
# Kinds that apps on higher floors add in their AppConfig.ready() (the policies app adds
# "policies"), so that `investmap import KIND FILE` serves them without this app importing
# theirs: kind → handler(*, content: bytes, filename: str, dry_run: bool, user) → ImportReport.
# The handler validates and writes all or nothing itself; size limit and scope are checked here.
EXTRA_KINDS: dict[str, Callable[..., ImportReport]] = {}
CRS_CHOICES = ("wgs84", "gcj02")
FORMATS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv", ".xlsx": "xlsx"}

CHUNK = 900  # codes per `IN (…)` query (below SQLite's classic 999-variable limit)
BATCH = 500  # rows per bulk INSERT / UPDATE
KNOWN_LIMIT = 10  # codes listed in an "unknown …; known: …" message
VALUE_LIMIT = 80  # characters of a bad value repeated in an error
GCJ_DECIMALS = 8  # converted coordinates are rounded to ~1 mm so re-imports compare equal


# --- report -------------------------------------------------------------------


@dataclass
class RowError:
    row: int | None
    field: str | None
    value: Any
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "value": self.value, "message": self.message}


@dataclass
class ImportReport:
    kind: str
    filename: str
    dry_run: bool
    crs: str = "wgs84"
    # "row": spreadsheet rows, the header is row 1; "feature": GeoJSON feature index + 1.
    row_label: str = "row"
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Per model (verbose name): {"created": n, "updated": n, "unchanged": n}.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def as_dict(self) -> dict:
        """The `--json` shape: created, updated, unchanged, errors (+ dry_run)."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
            "dry_run": self.dry_run,
        }

    def error_lines(self) -> list[str]:
        """'FILE row R, field F, value V: message' per error."""
        return [format_error(self.filename, e, self.row_label) for e in self.errors]


def format_error(filename: str, e: RowError, row_label: str = "row") -> str:
    # GeoJSON rows are features counted from 1 (the caller says so once).
    parts = [filename]
    if e.row is not None:
        parts.append(_("row %(row)d") % {"row": e.row})
    head = " ".join(parts)
    details = []
    if e.field:
        details.append(_("field %(field)s") % {"field": e.field})
    if e.value not in (None, ""):
        details.append(_("value %(value)s") % {"value": json.dumps(e.value, ensure_ascii=False)})
    return (head + (", " + ", ".join(details) if details else "")) + ": " + e.message


# --- the entry point ----------------------------------------------------------


def all_kinds() -> tuple[str, ...]:
    """The resource kinds, then those registered by other apps (EXTRA_KINDS)."""
    return KINDS + tuple(k for k in EXTRA_KINDS if k not in KINDS)


class _Refused(Exception):
    """The whole file is refused (size, format, permission): one error, nothing read."""

    def __init__(
        self, message: str, field: str | None = None, value: Any = "", row: int | None = None
    ):
        super().__init__(message)
        self.message, self.field, self.value, self.row = message, field, value, row


def import_file(
    *,
    kind: str,
    path_or_file,
    filename: str | None = None,
    dry_run: bool,
    crs: str = "wgs84",
    scope=None,
    user=None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Validate and (unless `dry_run`) write one file of `kind`; never raises for bad input.

    `path_or_file` is a path or a binary file object (an upload); `filename`
    (defaults to the path's name) chooses the format by its extension and
    names the file in messages. `scope`, when given, must allow importing the
    kind. `progress` receives short progress lines for large files.
    """
    filename = filename or _name_of(path_or_file)
    report = ImportReport(kind=kind, filename=filename, dry_run=dry_run, crs=crs)
    started = time.monotonic()
    try:
        if kind not in KINDS and kind not in EXTRA_KINDS:
            raise _Refused(
                _("unknown kind '%(kind)s'; accepted: %(kinds)s")
                % {"kind": kind, "kinds": ", ".join(all_kinds())},
                field="kind",
                value=kind,
            )
        if crs not in CRS_CHOICES:
            raise _Refused(
                _("unknown coordinate system '%(crs)s'; accepted: %(accepted)s")
                % {"crs": crs, "accepted": ", ".join(CRS_CHOICES)},
                field="crs",
                value=crs,
            )
        if scope is not None and not scope.can_import(kind):
            raise _Refused(
                _("your account may not import %(kind)s; ask a data maintainer or the bureau staff")
                % {"kind": kind}
            )
        if kind in EXTRA_KINDS:
            data = _read_bytes(path_or_file)
            return EXTRA_KINDS[kind](content=data, filename=filename, dry_run=dry_run, user=user)
        spec = SPECS[kind]()
        fmt = _format_of(filename, spec)
        report.row_label = "feature" if fmt == "geojson" else "row"
        data = _read_bytes(path_or_file)
        job = _Job(spec=spec, report=report, crs=crs, user=user, progress=progress)
        spec.run(job, fmt, data)
    except _Refused as exc:
        report.errors.append(RowError(exc.row, exc.field, exc.value, exc.message))
    report.timings["total"] = round(time.monotonic() - started, 3)
    # File-level errors first, then by row (stable: a row's errors keep column order).
    report.errors.sort(key=lambda e: -1 if e.row is None else e.row)
    if report.errors:
        report.created = report.updated = report.unchanged = 0
        report.counts = {}
        if not dry_run:
            audit(
                user=user,
                action="import",
                target=kind,
                filename=filename,
                ok=False,
                errors=len(report.errors),
                crs=crs,
            )
    return report


def _name_of(path_or_file) -> str:
    if isinstance(path_or_file, str | os.PathLike):
        return os.path.basename(os.fspath(path_or_file))
    return os.path.basename(getattr(path_or_file, "name", "") or "upload")


def _human_size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _read_bytes(path_or_file) -> bytes:
    limit = settings.INVESTMAP_IMPORT_MAX_BYTES

    def too_big(size):
        return _Refused(
            _(
                "the file is %(size)s; the largest accepted import is %(limit)s "
                "(setting INVESTMAP_IMPORT_MAX_BYTES); split the file"
            )
            % {"size": _human_size(size), "limit": _human_size(limit)}
        )

    if isinstance(path_or_file, str | os.PathLike):
        try:
            size = os.path.getsize(path_or_file)
        except OSError as exc:
            raise _Refused(
                _("cannot read the file: %(reason)s") % {"reason": exc.strerror or exc}
            ) from exc
        if size > limit:
            raise too_big(size)
        with open(path_or_file, "rb") as f:
            return f.read()
    f = path_or_file
    size = getattr(f, "size", None)
    if size is not None and size > limit:
        raise too_big(size)
    if hasattr(f, "seek"):
        try:
            f.seek(0)
        except (OSError, ValueError):
            pass
    data = f.read(limit + 1)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > limit:
        raise too_big(len(data))
    return data


def _format_of(filename: str, spec: _Kind) -> str:
    ext = os.path.splitext(filename.lower())[1]
    accepted = ", ".join(sorted({e for e, f in FORMATS.items() if f in spec.formats}))
    if ext == ".xls":
        raise _Refused(
            _(
                "old Excel .xls files are not read; save the sheet as .xlsx (accepted for %(kind)s: %(accepted)s)"
            )
            % {"kind": spec.kind, "accepted": accepted}
        )
    fmt = FORMATS.get(ext)
    if fmt is None or fmt not in spec.formats:
        msg = _("%(kind)s cannot be imported from a '%(ext)s' file; accepted: %(accepted)s") % {
            "kind": spec.kind,
            "ext": ext or filename,
            "accepted": accepted,
        }
        raise _Refused(msg, field="file", value=filename)
    return fmt


# --- reading files --------------------------------------------------------------

MISSING = object()


@dataclass
class _Row:
    row: int
    values: dict[str, Any]
    geometry: Any = MISSING  # GeoJSON only: the feature's geometry (None when null)


def _colname(name) -> str:
    return str(name if name is not None else "").strip().lstrip("\ufeff").strip().lower()


def _cell(v):
    """A cell as the importer sees it: stripped text, a number, a date; blank → None."""
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date() if v.time() == dt.time(0) else v
    return v


def _header(cells: list) -> list[str]:
    columns = [_colname(c) for c in cells]
    if not any(columns):
        raise _Refused(_("row 1 must be the header with the column names; it is empty"), row=1)
    seen = set()
    for c in columns:
        if c and c in seen:
            raise _Refused(
                _("column '%(col)s' appears twice in the header; each column once") % {"col": c},
                field=c,
                row=1,
            )
        seen.add(c)
    return columns


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise _Refused(
        _(
            "the file is not text in an accepted encoding; accepted: UTF-8 (with or without BOM), "
            "GB18030/GBK; in Excel choose 'CSV UTF-8'"
        )
    )


def _read_csv(data: bytes, job: _Job) -> tuple[list[str], list[_Row]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_Row] = []
    try:
        header = next(reader, None)
        if header is None:
            raise _Refused(_("the file is empty; row 1 must be the header with the column names"))
        columns = _header(header)
        width = len(columns)
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                job.error(
                    number,
                    None,
                    "",
                    _("this row has %(n)d cells but the header has %(m)d columns")
                    % {"n": len(cells), "m": width},
                )
            rows.append(
                _Row(
                    number,
                    {
                        c: _cell(cells[i]) if i < len(cells) else None
                        for i, c in enumerate(columns)
                        if c
                    },
                )
            )
    except csv.Error as exc:
        raise _Refused(
            _("not a readable CSV file near line %(line)d: %(reason)s")
            % {"line": reader.line_num, "reason": exc}
        ) from exc
    return [c for c in columns if c], rows


def _read_xlsx(data: bytes, job: _Job) -> tuple[list[str], list[_Row]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _Refused(
            _("not a readable .xlsx workbook (%(reason)s); save it from Excel or WPS as .xlsx")
            % {"reason": exc.__class__.__name__}
        ) from exc
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise _Refused(
                _("the first sheet is empty; row 1 must be the header with the column names")
            )
        columns = _header(list(header))
        width = len(columns)
        rows: list[_Row] = []
        for number, cells in enumerate(it, start=2):
            cells = [_cell(c) for c in cells]
            if not any(c is not None for c in cells):
                continue
            if len(cells) > width and any(c is not None for c in cells[width:]):
                job.error(
                    number,
                    None,
                    "",
                    _("this row has cells beyond the last header column %(m)d") % {"m": width},
                )
            rows.append(
                _Row(
                    number,
                    {c: cells[i] if i < len(cells) else None for i, c in enumerate(columns) if c},
                )
            )
    finally:
        wb.close()
    return [c for c in columns if c], rows


_ACCEPTED_CRS = ("CRS84", "4326", "4490")


def _read_geojson(data: bytes, job: _Job) -> tuple[list[str], list[_Row]]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _Refused(_("GeoJSON must be UTF-8 text")) from exc
    except json.JSONDecodeError as exc:
        raise _Refused(
            _("not valid JSON: %(reason)s (line %(line)d, column %(col)d)")
            % {"reason": exc.msg, "line": exc.lineno, "col": exc.colno}
        ) from exc
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise _Refused(
            _(
                'expected a GeoJSON FeatureCollection ({"type": "FeatureCollection", "features": [...]})'
            )
        )
    crs_name = (
        str(((doc.get("crs") or {}).get("properties") or {}).get("name", ""))
        if isinstance(doc.get("crs"), dict)
        else ""
    )
    if crs_name and not any(c in crs_name for c in _ACCEPTED_CRS):
        raise _Refused(
            _(
                "the file declares coordinate system %(crs)s; coordinates must be lon/lat in WGS84 or "
                "CGCS2000 (EPSG:4326, EPSG:4490), or GCJ-02 with crs=gcj02"
            )
            % {"crs": crs_name},
            field="crs",
            value=crs_name,
        )
    columns: dict[str, None] = {}
    rows: list[_Row] = []
    for number, feature in enumerate(doc["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            job.error(
                number, None, "", _('not a GeoJSON Feature (expected {"type": "Feature", ...})')
            )
            continue
        props = feature.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            job.error(number, "properties", "", _("properties must be an object of column: value"))
            continue
        values = {}
        for k, v in props.items():
            name = _colname(k)
            if name:
                values[name] = _cell(v)
                columns.setdefault(name)
        rows.append(_Row(number, values, feature.get("geometry")))
    return list(columns), rows


_READERS = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson}


# --- GCJ-02 → WGS84 -------------------------------------------------------------


def _gcj_to_wgs84(rows: list[_Row], point_columns: bool) -> int:
    """Convert every coordinate of every row in one vectorised call; returns how many."""
    xs: list[float] = []
    ys: list[float] = []
    geoms: list[_Row] = []
    cols: list[_Row] = []

    def collect(x, y):
        x, y = float(x), float(y)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError
        xs.append(x)
        ys.append(y)
        return x, y

    for r in rows:
        g = r.geometry
        if isinstance(g, dict) and g.get("type") in geo.GEOMETRY_TYPES:
            n = len(xs)
            try:
                geo.map_positions(g, collect)
                geoms.append(r)
            except (TypeError, ValueError, KeyError, IndexError):
                del xs[n:], ys[n:]  # left as is: validation reports it
        elif point_columns and r.values.get("lon") is not None and r.values.get("lat") is not None:
            try:
                collect(r.values["lon"], r.values["lat"])
                cols.append(r)
            except (TypeError, ValueError):
                pass
    if not xs:
        return 0
    lon, lat = geo.gcj02_to_wgs84(np.array(xs), np.array(ys))
    out = iter(
        zip(np.round(lon, GCJ_DECIMALS).tolist(), np.round(lat, GCJ_DECIMALS).tolist(), strict=True)
    )
    for r in geoms:
        r.geometry = geo.map_positions(r.geometry, lambda _x, _y: next(out))
    for r in cols:
        r.values["lon"], r.values["lat"] = next(out)
    return len(xs)


# --- cell parsers -----------------------------------------------------------------


class Invalid(ValueError):
    pass


def _as_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list | dict):
        raise Invalid(_("expected text, got a list or an object"))
    return str(v)


def p_text(max_length: int):
    def parse(v):
        s = _as_text(v)
        if len(s) > max_length:
            raise Invalid(_("longer than %(n)d characters") % {"n": max_length})
        return s

    return parse


_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _as_number(v) -> float:
    if isinstance(v, bool):
        raise Invalid(_("not a number; expected a number such as 1200 or 35.5"))
    if isinstance(v, int | float):
        x = float(v)
    elif isinstance(v, str):
        s = v.replace("\u00a0", "").replace(" ", "")
        if _THOUSANDS_RE.match(s):
            s = s.replace(",", "")
        if not _NUMBER_RE.match(s):
            raise Invalid(_("not a number; expected a number such as 1200 or 35.5"))
        x = float(s)
    else:
        raise Invalid(_("not a number; expected a number such as 1200 or 35.5"))
    if not math.isfinite(x):
        raise Invalid(_("not a finite number"))
    return x


def p_number(min_value: float | None = 0.0, max_value: float | None = None):
    def parse(v):
        x = _as_number(v)
        if min_value is not None and x < min_value:
            raise Invalid(
                _("must not be negative")
                if min_value == 0
                else _("must be at least %(min)s") % {"min": min_value}
            )
        if max_value is not None and x > max_value:
            raise Invalid(_("must be at most %(max)s") % {"max": max_value})
        return x

    return parse


def p_integer(min_value: int = 0, max_value: int | None = None):
    def parse(v):
        x = _as_number(v)
        if not x.is_integer():
            raise Invalid(_("not a whole number; expected e.g. 12"))
        n = int(x)
        if n < min_value or (max_value is not None and n > max_value):
            raise Invalid(
                _("must be a whole number from %(min)d to %(max)d")
                % {"min": min_value, "max": max_value}
                if max_value is not None
                else _("must be a whole number of at least %(min)d") % {"min": min_value}
            )
        return n

    return parse


def p_ratio(v):
    if isinstance(v, str) and v.strip().endswith("%"):
        x = _as_number(v.strip()[:-1]) / 100.0
    else:
        x = _as_number(v)
    if not 0.0 <= x <= 1.0:
        raise Invalid(_("must be a share from 0 to 1 (e.g. 0.6) or a percentage (60%)"))
    return x


_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]00:00(?::00)?)?$")


def p_date(v):
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    m = _DATE_RE.match(_as_text(v)) if not isinstance(v, int | float) else None
    if not m:
        raise Invalid(_("date must be YYYY-MM-DD (e.g. 2021-06-30)"))
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise Invalid(_("not a calendar date; date must be YYYY-MM-DD (e.g. 2021-06-30)")) from exc


_CHOICE_LOOKUPS: dict[type, dict[str, str]] = {}


def _choice_lookup(enum) -> dict[str, str]:
    """Value → value, accepting the value in any case and the English or Chinese label."""
    lookup = _CHOICE_LOOKUPS.get(enum)
    if lookup is None:
        lookup = {}
        for m in enum:
            with translation.override("zh-hans"):
                zh = str(m.label)
            for key in (m.label_en, zh, m.value):
                lookup[key.strip().lower()] = m.value
        _CHOICE_LOOKUPS[enum] = lookup
    return lookup


def accepted_values(enum) -> str:
    return ", ".join(m.value for m in enum)


def p_choice(enum, noun: str):
    def parse(v):
        s = _as_text(v)
        value = _choice_lookup(enum).get(s.strip().lower())
        if value is None:
            raise Invalid(
                _("%(noun)s '%(value)s' not accepted; accepted: %(accepted)s")
                % {"noun": noun, "value": s, "accepted": accepted_values(enum)}
            )
        return value

    parse.accepted = lambda: accepted_values(enum)
    return parse


def p_certifications(v):
    s = _as_text(v)
    out: list[str] = []
    for part in re.split(r"[;；]", s):
        part = part.strip()
        if not part:
            continue
        value = _choice_lookup(choices.Certification).get(part.lower())
        if value is None:
            raise Invalid(
                _(
                    "certification '%(value)s' not accepted; codes separated by ';', accepted: %(accepted)s"
                )
                % {"value": part, "accepted": accepted_values(choices.Certification)}
            )
        if value not in out:
            out.append(value)
    return out


_CREDIT_RE = re.compile(r"^[0-9A-Z]{18}$")


def p_credit_code(v):
    s = _as_text(v).replace(" ", "").upper()
    if not _CREDIT_RE.match(s):
        raise Invalid(
            _(
                "not a unified social credit code: expected 18 digits or capital letters, "
                "e.g. 91310000MA1FL00001 (format the cell as text)"
            )
        )
    return s


_INDUSTRY_RE = re.compile(r"^(?:[A-T]\d{0,4}|\d{2,4})$")


def p_industry_code(v):
    s = _as_text(v).replace(" ", "").upper()
    if not _INDUSTRY_RE.match(s):
        raise Invalid(
            _(
                "not a GB/T 4754 industry code: expected a section letter and/or 2 to 4 digits, "
                "e.g. 3841 or C3841"
            )
        )
    return s


def p_email(v):
    s = p_text(100)(v)
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", s):
        raise Invalid(_("not an e-mail address; expected e.g. name@example.cn"))
    return s


# --- columns and kinds --------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """One column of an import file."""

    name: str
    parse: Callable[[Any], Any] | None = None
    attr: str | None = None  # the model attribute it sets (an FK's attname for references)
    required: bool = False  # the column must be present and its cells non-blank
    ref: str | None = None  # references a record: town, park, parcel, building, enterprise
    locate: bool = False  # blank or absent: found by containment
    blank: Any = None  # what a blank cell stores (None; "" for text fields)


def T(name, max_length, *, attr=None, required=False):
    return Col(name, p_text(max_length), attr or name, required=required, blank="")


def N(name, **kw):
    return Col(name, p_number(**kw), name)


def REF(name, ref, attr, *, required=False, locate=False, max_length=40):
    return Col(
        name,
        p_credit_code if ref == "enterprise" else p_text(max_length),
        attr,
        required=required,
        ref=ref,
        locate=locate,
    )


@dataclass
class _Item:
    row: int
    values: dict
    geometry: Any = MISSING
    data: dict = field(default_factory=dict)  # model attribute → value
    refs: dict = field(default_factory=dict)  # column → referenced code
    extra: dict = field(default_factory=dict)  # columns without a model attribute
    bad: set = field(default_factory=set)  # columns with an error
    key: Any = None
    obj: Any = None  # the stored record, when there is one
    shape: dict | None = None  # shape fields of a new or changed geometry
    located: set = field(default_factory=set)  # columns filled by containment

    @property
    def ok(self) -> bool:
        return not self.bad


class _Job:
    def __init__(self, *, spec, report, crs, user, progress):
        self.spec, self.report, self.crs, self.user = spec, report, crs, user
        self._progress = progress
        self.columns: set[str] = set()
        self.fmt = ""
        self.refs: dict[str, dict] = {}
        self.known: dict[str, list[str]] = {}

    def error(self, where, field, value, message) -> None:
        row = where.row if isinstance(where, _Item) else where
        if isinstance(where, _Item):
            where.bad.add(field or "")
        self.report.errors.append(RowError(row, field, _shown(value), message))

    def progress(self, message: str) -> None:
        if self._progress:
            self._progress(message)

    def has(self, column: str) -> bool:
        return column in self.columns


def _shown(value):
    """A bad value as repeated in an error: JSON-able, short."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        s = value
    else:
        s = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(s, str) and len(s) > VALUE_LIMIT:
        s = s[: VALUE_LIMIT - 1] + "…"
    return s


def _known(codes, limit=KNOWN_LIMIT) -> str:
    codes = sorted(codes)
    if not codes:
        return _("none yet")
    text = ", ".join(codes[:limit])
    if len(codes) > limit:
        text += ", … " + _("(%(n)d in all)") % {"n": len(codes)}
    return text


def _chunks(seq, size=CHUNK):
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


# References: (model, code field, extra values kept, small table listed in messages).
_REF_SOURCES = {
    "town": (Town, "code", ("org_unit_id",), True),
    "park": (Park, "code", ("town_id", "org_unit_id"), True),
    "parcel": (Parcel, "code", ("town_id",), False),
    "building": (Building, "code", (), False),
    "enterprise": (Enterprise, "credit_code", (), False),
}


def _ref_map(job: _Job, ref: str, codes) -> dict[str, tuple]:
    """code → (pk, *extras) for the codes asked (whole table for towns and parks)."""
    model, code_field, extras, small = _REF_SOURCES[ref]
    cached = job.refs.setdefault(ref, {})
    if small:
        if ref not in job.known:
            for row in model.objects.values_list(code_field, "pk", *extras):
                cached[row[0]] = row[1:]
            job.known[ref] = list(cached)
        return cached
    todo = [c for c in set(codes) if c not in cached]
    for chunk in _chunks(todo):
        for row in model.objects.filter(**{f"{code_field}__in": chunk}).values_list(
            code_field, "pk", *extras
        ):
            cached[row[0]] = row[1:]
    return cached


def _unknown_ref_message(job: _Job, ref: str, code: str) -> str:
    if ref == "town":
        return _("unknown town '%(code)s'; known towns: %(known)s") % {
            "code": code,
            "known": _known(job.known["town"]),
        }
    if ref == "park":
        return _("unknown park '%(code)s'; known parks: %(known)s") % {
            "code": code,
            "known": _known(job.known["park"]),
        }
    if ref == "parcel":
        return _(
            "unknown parcel '%(code)s': no parcel with this code in the library (import parcels first)"
        ) % {"code": code}
    if ref == "building":
        return _(
            "unknown building '%(code)s': no building with this code in the library (import buildings first)"
        ) % {"code": code}
    return _(
        "unknown enterprise '%(code)s': no enterprise with this credit code in the library "
        "(import enterprises first)"
    ) % {"code": code}


def _by_key(model, field_name: str, values, select_related=()) -> dict:
    out = {}
    for chunk in _chunks(set(values)):
        qs = model.objects.filter(**{f"{field_name}__in": chunk})
        if select_related:
            qs = qs.select_related(*select_related)
        for obj in qs:
            out[getattr(obj, field_name)] = obj
    return out


def _model_attnames(model) -> set[str]:
    return {f.attname for f in model._meta.concrete_fields}


def _shape_attrs(model, shape: dict) -> dict:
    names = _model_attnames(model)
    out = {k: v for k, v in shape.items() if k in names}
    if "area_mu" in names and "area_m2" in shape:
        out["area_mu"] = mu(shape["area_m2"])
    return out


def _same_geometry(stored_text: str, geometry: dict) -> bool:
    try:
        stored = json.loads(stored_text)
    except (TypeError, ValueError):
        return False
    return (
        isinstance(stored, dict)
        and stored.get("type") == geometry["type"]
        and stored.get("coordinates") == geometry["coordinates"]
    )


@dataclass
class _Step:
    """The planned writes of one model."""

    model: type
    creates: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    changed: dict = field(default_factory=dict)  # id(obj) → changed attributes
    items: dict = field(default_factory=dict)  # id(obj) → item (for errors)
    unchanged: int = 0

    def add(self, item: _Item | None, obj, values: dict, now, force: bool = False) -> str:
        """Plan `obj` (None or unsaved: a new record) with `values`; `force`: count it as
        updated even if no attribute differs (its org unit changed)."""
        if obj is None or obj.pk is None:
            obj = obj or self.model()
            for k, v in values.items():
                setattr(obj, k, v)
            self.creates.append(obj)
            self.items[id(obj)] = item
            return "created"
        changed = {k for k, v in values.items() if getattr(obj, k) != v}
        if not changed and not force:
            self.unchanged += 1
            return "unchanged"
        for k in changed:
            setattr(obj, k, values[k])
        obj.version += 1
        obj.updated_at = now
        self.updates.append(obj)
        self.changed[id(obj)] = changed
        self.items[id(obj)] = item
        return "updated"

    @property
    def fields(self) -> list[str]:
        names = set()
        for c in self.changed.values():
            names |= c
        return sorted(names | {"version", "updated_at"})


class _Conflict(Exception):
    def __init__(self, item):
        self.item = item


class _Kind:
    """A kind of import: its columns, how rows become records, how they are written."""

    kind: str = ""
    model: type = None
    cols: tuple[Col, ...] = ()
    formats: tuple[str, ...] = ("csv", "xlsx", "geojson")
    # "polygon": a GeoJSON (Multi)Polygon; "point": a Point or lon/lat columns; None: a table.
    geometry: str | None = None
    point_required = False  # point kinds: lon/lat (or a Point) required on every row
    key_cols: tuple[str, ...] = ("code",)

    # -- the run -----------------------------------------------------------

    def run(self, job: _Job, fmt: str, data: bytes) -> None:
        report = job.report
        t = time.monotonic()
        columns, rows = _READERS[fmt](data, job)
        report.rows = len(rows)
        job.columns = set(columns)
        job.fmt = fmt
        report.timings["read"] = round(time.monotonic() - t, 3)
        job.progress(_("parsed %(n)d rows") % {"n": len(rows)})
        if not self.check_columns(job, columns, fmt, rows):
            return
        if job.crs == "gcj02":
            n = _gcj_to_wgs84(rows, self.geometry == "point")
            job.progress(_("converted %(n)d positions from GCJ-02 to WGS84") % {"n": n})
        t = time.monotonic()
        steps = self.validate(job, rows)
        report.timings["validate"] = round(time.monotonic() - t, 3)
        job.progress(_("validated: %(errors)d errors") % {"errors": len(report.errors)})
        if report.errors:
            return
        for step in steps:
            label = str(step.model._meta.verbose_name)
            c = {
                "created": len(step.creates),
                "updated": len(step.updates),
                "unchanged": step.unchanged,
            }
            report.counts[label] = c
            report.created += c["created"]
            report.updated += c["updated"]
            report.unchanged += c["unchanged"]
        if job.report.dry_run:
            return
        t = time.monotonic()
        try:
            with transaction.atomic():
                self.write(job, steps)
                library_changed.send(sender=self.model, kinds={self.kind})
                audit(
                    user=job.user,
                    action="import",
                    target=self.kind,
                    filename=report.filename,
                    ok=True,
                    created=report.created,
                    updated=report.updated,
                    unchanged=report.unchanged,
                    rows=report.rows,
                    crs=job.crs,
                )
        except _Conflict as exc:
            item = exc.item
            job.error(
                item.row if item else None,
                self.key_cols[0],
                _shown(item.key if item else ""),
                _(
                    "this record was changed by someone else while the import ran; nothing was written; "
                    "run the import again"
                ),
            )
        except IntegrityError as exc:
            job.error(
                None,
                None,
                "",
                _(
                    "another change to the same records happened during the import; "
                    "nothing was written; run the import again (%(reason)s)"
                )
                % {"reason": exc},
            )
        report.timings["write"] = round(time.monotonic() - t, 3)
        if not report.errors:
            job.progress(
                _("wrote %(created)d created, %(updated)d updated; %(unchanged)d unchanged")
                % {
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                }
            )

    def required_columns(self, fmt: str) -> list[str]:
        if self.geometry == "polygon" and fmt != "geojson":
            return list(self.key_cols)  # an update of stored records: any other columns
        names = [c.name for c in self.cols if c.required]
        if self.geometry == "point" and self.point_required and fmt != "geojson":
            names += ["lon", "lat"]
        return names

    def accepted_columns(self) -> set[str]:
        return {c.name for c in self.cols} | ({"lon", "lat"} if self.geometry == "point" else set())

    def check_columns(self, job: _Job, columns: list[str], fmt: str, rows) -> bool:
        if not rows:
            job.report.warnings.append(_("the file has no data rows"))
            return False
        missing = [c for c in self.required_columns(fmt) if c not in columns]
        header_row = 1 if fmt != "geojson" else None
        for c in missing:
            where = _("the header (row 1)") if fmt != "geojson" else _("the features' properties")
            job.error(
                header_row,
                c,
                "",
                _("required column '%(col)s' is missing from %(where)s; columns found: %(found)s")
                % {"col": c, "where": where, "found": ", ".join(columns) or "-"},
            )
        ignored = [c for c in columns if c not in self.accepted_columns()]
        if ignored:
            job.report.warnings.append(
                _("ignored columns (not read for %(kind)s): %(cols)s")
                % {"kind": self.kind, "cols": ", ".join(ignored)}
            )
        return not missing

    # -- validation ------------------------------------------------------------

    def validate(self, job: _Job, rows: list[_Row]) -> list[_Step]:
        items = [self.clean(job, r) for r in rows]
        self.points(job, items)
        self.check_duplicates(job, items)
        self.resolve(job, items)
        self.load_existing(job, items)
        self.shapes(job, items)
        self.locate(job, items)
        self.check(job, items)
        if job.report.errors:
            return []
        return self.plan(job, [it for it in items if it.ok])

    def clean(self, job: _Job, row: _Row) -> _Item:
        it = _Item(row.row, row.values, row.geometry)
        for col in self.cols:
            if not job.has(col.name):
                continue
            raw = row.values.get(col.name)
            if raw is None:
                if col.required:
                    accepted = getattr(col.parse, "accepted", None)
                    msg = (
                        _("blank, but a value is required; accepted: %(accepted)s")
                        % {"accepted": accepted()}
                        if accepted
                        else _("blank, but a value is required")
                    )
                    job.error(it, col.name, "", msg)
                elif col.ref is None and col.attr:
                    it.data[col.attr] = (
                        list(col.blank) if isinstance(col.blank, list) else col.blank
                    )
                elif col.ref is not None and not col.locate:
                    it.data[col.attr] = None
                elif col.attr is None:
                    it.extra[col.name] = None
                continue
            try:
                value = col.parse(raw)
            except Invalid as exc:
                job.error(it, col.name, raw, str(exc))
                continue
            if col.ref:
                it.refs[col.name] = value
            elif col.attr:
                it.data[col.attr] = value
            else:
                it.extra[col.name] = value
        it.key = self.key_of(it)
        return it

    def key_of(self, it: _Item):
        return it.data.get(self.key_cols[0])

    def points(self, job: _Job, items: list[_Item]) -> None:
        """Point kinds: lon/lat from a Point geometry or from lon/lat columns."""
        if self.geometry != "point":
            return
        for it in items:
            g = it.geometry
            if g is not MISSING and g is not None:
                if not isinstance(g, dict) or g.get("type") != "Point":
                    job.error(
                        it,
                        "geometry",
                        _shown(g),
                        _("geometry type '%(type)s' not accepted for %(kind)s; accepted: Point")
                        % {
                            "type": g.get("type") if isinstance(g, dict) else type(g).__name__,
                            "kind": self.kind,
                        },
                    )
                    continue
                c = g.get("coordinates")
                try:
                    if not isinstance(c, list) or len(c) < 2:
                        raise geo.GeometryError(_("a Point needs coordinates [lon, lat]"))
                    lon, lat = geo.validate_lonlat(c[0], c[1])
                except geo.GeometryError as exc:
                    job.error(it, "geometry", _shown(g), str(exc))
                    continue
                it.data["lon"], it.data["lat"] = lon, lat
                continue
            lon, lat = it.values.get("lon"), it.values.get("lat")
            if lon is None and lat is None:
                if self.point_required:
                    for c in ("lon", "lat"):
                        job.error(
                            it,
                            c,
                            "",
                            _(
                                "blank, but a value is required (longitude and latitude, "
                                "WGS84 degrees, e.g. 121.4737 and 31.2304)"
                            ),
                        )
                elif job.has("lon") or job.has("lat"):
                    it.data["lon"] = it.data["lat"] = None
                continue
            bad = False
            for name, v in (("lon", lon), ("lat", lat)):
                if v is None:
                    job.error(it, name, "", _("lon and lat must both be given or both be blank"))
                    bad = True
                    continue
                try:
                    _as_number(v)
                except Invalid as exc:
                    job.error(it, name, v, str(exc))
                    bad = True
            if bad:
                continue
            try:
                it.data["lon"], it.data["lat"] = geo.validate_lonlat(
                    _as_number(lon), _as_number(lat)
                )
            except geo.GeometryError as exc:
                job.error(
                    it,
                    "lon",
                    _shown(f"{lon}, {lat}"),
                    str(exc) + "; " + _("are lon and lat swapped?"),
                )

    def check_duplicates(self, job: _Job, items: list[_Item]) -> None:
        seen: dict = {}
        for it in items:
            if it.key is None or any(c in it.bad for c in self.key_cols):
                continue
            first = seen.get(it.key)
            if first is not None:
                job.error(
                    it,
                    self.key_cols[0],
                    _shown(self.key_text(it)),
                    _(
                        "duplicate key %(key)s: also in %(row_word)s %(row)d; each record once per file"
                    )
                    % {
                        "key": self.key_text(it),
                        "row_word": _("feature") if job.fmt == "geojson" else _("row"),
                        "row": first.row,
                    },
                )
            else:
                seen[it.key] = it

    def key_text(self, it: _Item) -> str:
        return " / ".join(str(k) for k in it.key) if isinstance(it.key, tuple) else str(it.key)

    def resolve(self, job: _Job, items: list[_Item]) -> None:
        for col in self.cols:
            if col.ref is None or not job.has(col.name):
                continue
            codes = {it.refs[col.name] for it in items if col.name in it.refs}
            mapping = _ref_map(job, col.ref, codes)
            for it in items:
                code = it.refs.get(col.name)
                if code is None:
                    continue
                hit = mapping.get(code)
                if hit is None:
                    job.error(it, col.name, code, _unknown_ref_message(job, col.ref, code))
                else:
                    it.data[col.attr] = hit[0]

    def load_existing(self, job: _Job, items: list[_Item]) -> None:
        keys = [it.key for it in items if it.ok and it.key is not None]
        existing = _by_key(self.model, self.key_cols[0], keys)
        for it in items:
            it.obj = existing.get(it.key)

    def shapes(self, job: _Job, items: list[_Item]) -> None:
        """Polygon kinds: validate geometry; shape fields for new or changed ones, in one batch."""
        if self.geometry != "polygon":
            return
        todo = []
        for it in items:
            g = it.geometry
            if g is MISSING:  # a CSV / xlsx row: attributes of a stored record, geometry kept
                if it.obj is None and it.key is not None:
                    job.error(
                        it,
                        self.key_cols[0],
                        it.key,
                        _(
                            "no %(kind)s with this code in the library; new %(kind)s need their polygon: "
                            "import them from GeoJSON (a CSV or Excel file only updates stored ones)"
                        )
                        % {"kind": self.kind},
                    )
                continue
            if g is None:
                job.error(
                    it,
                    "geometry",
                    "",
                    _("the feature has no geometry; a Polygon or MultiPolygon is required"),
                )
                continue
            if not isinstance(g, dict) or g.get("type") not in ("Polygon", "MultiPolygon"):
                kind = g.get("type") if isinstance(g, dict) else type(g).__name__
                job.error(
                    it,
                    "geometry",
                    _shown(g),
                    _(
                        "geometry type '%(type)s' not accepted for %(kind)s; accepted: Polygon, MultiPolygon"
                    )
                    % {"type": kind, "kind": self.kind},
                )
                continue
            it.geometry = {"type": g["type"], "coordinates": g.get("coordinates")}
            if it.obj is not None and _same_geometry(it.obj.geometry, it.geometry):
                continue  # stored shape fields stay
            todo.append(it)
        if not todo:
            return
        t = time.monotonic()
        results = shape_fields([it.geometry for it in todo])
        job.report.timings["shapes"] = round(time.monotonic() - t, 3)
        for it, shape in zip(todo, results, strict=True):
            if "error" in shape:
                job.error(
                    it,
                    "geometry",
                    _shown(it.geometry),
                    _(
                        "%(reason)s; accepted: a Polygon or MultiPolygon of lon/lat positions whose rings are "
                        "closed and do not cross themselves"
                    )
                    % {"reason": shape["error"]},
                )
            else:
                it.shape = shape

    def centroid(self, it: _Item) -> tuple[float, float] | None:
        if it.shape is not None:
            return it.shape["lon"], it.shape["lat"]
        if self.geometry == "polygon" and it.obj is not None:
            return it.obj.lon, it.obj.lat
        if it.data.get("lon") is not None:
            return it.data["lon"], it.data["lat"]
        if "lon" not in it.data and it.obj is not None and getattr(it.obj, "lon", None) is not None:
            return it.obj.lon, it.obj.lat  # no lon/lat in the file: the stored point
        return None

    def locate_in(self, job: _Job, items: list[_Item], ref: str) -> list[str | None]:
        """Containment: the code of the town (or park) containing each item's point, in one batch."""
        model = Town if ref == "town" else Park
        polygons = list(model.objects.values_list("code", "geometry"))
        points = [self.centroid(it) for it in items]
        t = time.monotonic()
        found = locate_points(points, polygons) if polygons else [None] * len(points)
        job.report.timings[f"locate_{ref}"] = round(time.monotonic() - t, 3)
        return found

    def locate(self, job: _Job, items: list[_Item]) -> None:
        """Polygon kinds: a blank town (or no town column, for a new record) is the town
        containing the centroid."""
        col = next((c for c in self.cols if c.locate and c.ref == "town"), None)
        if col is None:
            return
        todo = [
            it
            for it in items
            if col.name not in it.refs
            and (job.has(col.name) or it.obj is None)
            and it.ok
            and self.centroid(it) is not None
        ]
        if not todo:
            return
        towns = _ref_map(job, "town", ())
        for it, code in zip(todo, self.locate_in(job, todo, "town"), strict=True):
            if code is None:
                lon, lat = self.centroid(it)
                job.error(
                    it,
                    col.name,
                    "",
                    _(
                        "blank, and the centroid (%(lon).6f, %(lat).6f) lies in no town; "
                        "give a town code (known towns: %(known)s)"
                    )
                    % {"lon": lon, "lat": lat, "known": _known(job.known["town"])},
                )
            else:
                it.data[col.attr] = towns[code][0]
                it.located.add(col.name)

    def check(self, job: _Job, items: list[_Item]) -> None:
        """Cross-column checks."""
        if job.has("park") and any(c.name == "park" and c.ref == "park" for c in self.cols):
            parks = _ref_map(job, "park", ())
            towns_by_id = {v[0]: k for k, v in _ref_map(job, "town", ()).items()}
            for it in items:
                code = it.refs.get("park")
                town_id = it.data.get("town_id", getattr(it.obj, "town_id", None))
                if code is None or "park" in it.bad or town_id is None or code not in parks:
                    continue
                if parks[code][1] != town_id:
                    park_town = towns_by_id.get(parks[code][1], "?")
                    job.error(
                        it,
                        "park",
                        code,
                        _("park '%(park)s' is in town %(park_town)s, not in %(town)s")
                        % {
                            "park": code,
                            "park_town": park_town,
                            "town": towns_by_id.get(town_id, "?"),
                        },
                    )

    # -- planning and writing ---------------------------------------------------

    def values(self, it: _Item) -> dict:
        values = dict(it.data)
        if it.shape is not None:
            values.update(_shape_attrs(self.model, it.shape))
        return values

    def plan(self, job: _Job, items: list[_Item]) -> list[_Step]:
        step = _Step(self.model)
        now = timezone.now()
        for it in items:
            step.add(it, it.obj, self.values(it), now)
        return [step]

    def write(self, job: _Job, steps: list[_Step]) -> None:
        for step in steps:
            self.write_step(job, step)

    def write_step(self, job: _Job, step: _Step) -> None:
        user = job.user if getattr(job.user, "is_authenticated", False) else None
        reason = (_("import %(file)s") % {"file": job.report.filename})[:100]
        _check_versions(step)
        if step.creates:
            bulk_create_with_history(
                step.creates,
                step.model,
                batch_size=BATCH,
                default_user=user,
                default_change_reason=reason,
            )
        if step.updates:
            _update_rows(step.model, step.updates, step.fields)
            step.model.history.bulk_history_create(
                step.updates,
                batch_size=BATCH,
                update=True,
                default_user=user,
                default_change_reason=reason,
            )


def _update_rows(model, objs: list, fields: list[str]) -> None:
    """UPDATE … WHERE pk = … for each object, as one executemany per chunk.

    Django's bulk_update builds a CASE WHEN per field over the whole batch; on
    SQLite that wrote ~1 000 rows/s in bench/bench_import.py, this ~5× more.
    Values go through each field's get_db_prep_save, as Django's own writes do.
    """
    from django.db import connections, router

    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    concrete = [model._meta.get_field(f) for f in fields]
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        qn(model._meta.db_table),
        ", ".join(f"{qn(f.column)} = %s" for f in concrete),
        qn(model._meta.pk.column),
    )
    with connection.cursor() as cursor:
        for chunk in _chunks(objs, 2000):
            cursor.executemany(
                sql,
                [
                    [f.get_db_prep_save(getattr(o, f.attname), connection) for f in concrete]
                    + [o.pk]
                    for o in chunk
                ],
            )


def _check_versions(step: _Step) -> None:
    """Inside the transaction: the records to update still have the version we read."""
    expected = {obj.pk: obj.version - 1 for obj in step.updates}
    by_pk = {obj.pk: obj for obj in step.updates}
    for chunk in _chunks(expected):
        for pk, version in (
            step.model.objects.select_for_update().filter(pk__in=chunk).values_list("pk", "version")
        ):
            if version != expected[pk]:
                raise _Conflict(step.items.get(id(by_pk[pk])))


# --- org units of towns, parks and teams ------------------------------------------


def _district_root(create: bool) -> OrgUnit | None:
    root = OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True).order_by("pk").first()
    if root is None and create:
        code = "D" if not OrgUnit.objects.filter(code="D").exists() else "DISTRICT"
        root = OrgUnit.objects.create(
            code=code,
            name=settings.INVESTMAP_DISTRICT_NAME or DEFAULT_DISTRICT_NAME,
            kind=OrgKind.DISTRICT,
        )
    return root


def _check_unit_codes(job: _Job, items: list[_Item], kind: str, model) -> dict[str, int]:
    """New records get an org unit with their code: an existing unit may be reused only if it is
    of the same kind and not yet linked. Returns code → reusable unit id."""
    new = {it.key: it for it in items if it.ok and it.obj is None and it.key is not None}
    reuse: dict[str, int] = {}
    if not new:
        return reuse
    units = {}
    for chunk in _chunks(new):
        for u in OrgUnit.objects.filter(code__in=chunk):
            units[u.code] = u
    linked = set(
        model.objects.filter(org_unit_id__in=[u.pk for u in units.values()]).values_list(
            "org_unit_id", flat=True
        )
    )
    for code, u in units.items():
        if u.kind == kind and u.pk not in linked:
            reuse[code] = u.pk
        else:
            job.error(
                new[code],
                "code",
                code,
                _(
                    "code '%(code)s' is already used by the org unit '%(name)s' (%(kind)s); "
                    "towns, parks and teams need codes unique in the org tree"
                )
                % {"code": code, "name": u.name, "kind": u.get_kind_display()},
            )
    return reuse


def _make_units(creates: list, kind: str, parent_of, reuse: dict[str, int]) -> None:
    """Create (or reuse) the org unit of each new town / park / team; set org_unit_id."""
    fresh = []
    for obj in creates:
        if obj.code in reuse:
            obj.org_unit_id = reuse[obj.code]
            OrgUnit.objects.filter(pk=obj.org_unit_id).update(
                name=obj.name, parent_id=parent_of(obj)
            )
        else:
            fresh.append(OrgUnit(code=obj.code, name=obj.name, kind=kind, parent_id=parent_of(obj)))
    if fresh:
        made = OrgUnit.objects.bulk_create(fresh, batch_size=BATCH)
        if made and made[0].pk is None:  # a database that does not return ids
            ids = dict(
                OrgUnit.objects.filter(code__in=[u.code for u in fresh]).values_list("code", "pk")
            )
            for u in made:
                u.pk = ids[u.code]
        by_code = {u.code: u.pk for u in made}
        for obj in creates:
            if obj.code in by_code:
                obj.org_unit_id = by_code[obj.code]


def _sync_units(updates: list, parent_of=None) -> None:
    """Keep the org unit's name (and parent, if `parent_of`) in step with an updated record."""
    if not updates:
        return
    units = OrgUnit.objects.in_bulk([obj.org_unit_id for obj in updates])
    dirty = []
    for obj in updates:
        u = units.get(obj.org_unit_id)
        if u is None:
            continue
        parent = parent_of(obj) if parent_of else u.parent_id
        if u.name != obj.name or u.parent_id != parent:
            u.name, u.parent_id = obj.name, parent
            dirty.append(u)
    if dirty:
        OrgUnit.objects.bulk_update(dirty, ["name", "parent"], batch_size=BATCH)


# --- the kinds ----------------------------------------------------------------------


class TownsKind(_Kind):
    kind = "towns"
    model = Town
    formats = ("geojson", "csv", "xlsx")  # tables: attribute updates of stored records only
    geometry = "polygon"
    cols = (T("code", 32, required=True), T("name", 100, required=True))

    def check(self, job, items):
        self.reuse = _check_unit_codes(job, items, OrgKind.TOWN, Town)

    def write(self, job, steps):
        (step,) = steps
        root = _district_root(create=bool(step.creates))
        root_id = root.pk if root else None
        _make_units(step.creates, OrgKind.TOWN, lambda obj: root_id, self.reuse)
        _sync_units(step.updates)
        self.write_step(job, step)


class ParksKind(_Kind):
    kind = "parks"
    model = Park
    formats = ("geojson", "csv", "xlsx")  # tables: attribute updates of stored records only
    geometry = "polygon"
    cols = (
        T("code", 32, required=True),
        T("name", 100, required=True),
        REF("town", "town", "town_id", required=True, max_length=32),
    )

    def check(self, job, items):
        self.reuse = _check_unit_codes(job, items, OrgKind.PARK, Park)

    def write(self, job, steps):
        (step,) = steps
        town_units = dict(Town.objects.values_list("pk", "org_unit_id"))
        _make_units(step.creates, OrgKind.PARK, lambda obj: town_units[obj.town_id], self.reuse)
        _sync_units(step.updates, lambda obj: town_units[obj.town_id])
        self.write_step(job, step)


class ParcelsKind(_Kind):
    kind = "parcels"
    model = Parcel
    formats = ("geojson", "csv", "xlsx")  # tables: attribute updates of stored records only
    geometry = "polygon"
    cols = (
        T("code", 40, required=True),
        T("name", 200),
        REF("town", "town", "town_id", locate=True, max_length=32),
        REF("park", "park", "park_id", max_length=32),
        Col("land_use", p_choice(choices.LandUse, "land_use"), "land_use", required=True),
        Col("status", p_choice(choices.ParcelStatus, "status"), "status", required=True),
        N("price_wan"),
        REF("enterprise", "enterprise", "enterprise_id"),
        N("plot_ratio_max"),
        N("plot_ratio_min"),
        N("height_limit_m"),
        T("owner", 200),
        N("min_investment_wan_per_mu"),
        N("min_tax_wan_per_mu"),
        N("max_energy_tce_per_wan"),
    )

    def check(self, job, items):
        super().check(job, items)
        for it in items:
            lo, hi = it.data.get("plot_ratio_min"), it.data.get("plot_ratio_max")
            if lo is not None and hi is not None and lo > hi:
                job.error(
                    it,
                    "plot_ratio_min",
                    lo,
                    _(
                        "greater than plot_ratio_max (%(max)s); the minimum cannot exceed "
                        "the maximum"
                    )
                    % {"max": hi},
                )


class BuildingsKind(_Kind):
    kind = "buildings"
    model = Building
    formats = ("geojson", "csv", "xlsx")  # tables: attribute updates of stored records only
    geometry = "polygon"
    cols = (
        T("code", 40, required=True),
        T("name", 200),
        REF("town", "town", "town_id", locate=True, max_length=32),
        REF("park", "park", "park_id", max_length=32),
        REF("parcel", "parcel", "parcel_id"),
        Col(
            "building_type",
            p_choice(choices.BuildingType, "building_type"),
            "building_type",
            required=True,
        ),
        Col("floors", p_integer(1, 300), "floors"),
        N("height_m"),
        N("total_floor_m2"),
        N("vacant_floor_m2"),
        N("rent_yuan_m2_day"),
        N("floor_load_kn_m2"),
        N("clear_height_m"),
    )

    def check(self, job, items):
        super().check(job, items)
        for it in items:
            vacant, total = it.data.get("vacant_floor_m2"), it.data.get("total_floor_m2")
            if vacant is not None and total is not None and vacant > total:
                job.error(
                    it,
                    "vacant_floor_m2",
                    vacant,
                    _(
                        "greater than total_floor_m2 (%(total)s); the vacant floor "
                        "area cannot exceed the total"
                    )
                    % {"total": total},
                )


class PoisKind(_Kind):
    kind = "pois"
    model = Poi
    geometry = "point"
    point_required = True
    cols = (
        T("code", 40, required=True),
        T("name", 200, required=True),
        Col("category", p_choice(choices.PoiCategory, "category"), "category", required=True),
        REF("town", "town", "town_id", locate=True, max_length=32),
        REF("park", "park", "park_id", locate=True, max_length=32),
        T("address", 200),
        Col("line", p_text(100)),
        Col("seq", p_integer(0)),
    )

    def locate(self, job, items):
        """A blank town / park (or none in the file, for a new POI) is the one containing
        the point; a point in no town or park is fine."""
        for ref, attr in (("town", "town_id"), ("park", "park_id")):
            todo = [
                it
                for it in items
                if ref not in it.refs
                and (job.has(ref) or it.obj is None)
                and it.ok
                and self.centroid(it) is not None
            ]
            if not todo:
                continue
            mapping = _ref_map(job, ref, ())
            for it, code in zip(todo, self.locate_in(job, todo, ref), strict=True):
                it.data[attr] = mapping[code][0] if code else None
                it.located.add(ref)

    def check(self, job, items):
        # A park found by containment is where the point is; only check parks the file names.
        super().check(job, [it for it in items if "park" not in it.located])

    def values(self, it):
        values = super().values(it)
        extra = dict(it.obj.extra or {}) if it.obj is not None else {}
        for name in ("line", "seq"):
            if name in it.extra:
                if it.extra[name] is None:
                    extra.pop(name, None)
                else:
                    extra[name] = it.extra[name]
        values["extra"] = extra
        return values


class EnterprisesKind(_Kind):
    kind = "enterprises"
    model = Enterprise
    geometry = "point"
    key_cols = ("credit_code",)
    cols = (
        Col("credit_code", p_credit_code, "credit_code", required=True),
        T("name", 200, required=True),
        Col("industry_code", p_industry_code, "industry_code", required=True),
        Col("scale", p_choice(choices.EnterpriseScale, "scale"), "scale", required=True),
        Col("founded_on", p_date, "founded_on"),
        REF("town", "town", "town_id", locate=True, max_length=32),
        REF("park", "park", "park_id", max_length=32),
        REF("parcel", "parcel", "parcel_id"),
        REF("building", "building", "building_id"),
        Col("certifications", p_certifications, "certifications", blank=[]),
        T("contact_name", 50),
        T("contact_phone", 30),
        Col("contact_email", p_email, "contact_email", blank=""),
        T("address", 200),
    )

    def locate(self, job, items):
        """No town: the town (and, if blank, the park) containing the enterprise's point."""
        todo = [
            it
            for it in items
            if "town" not in it.refs and (job.has("town") or it.obj is None) and it.ok
        ]
        towns = _ref_map(job, "town", ())
        for it in [it for it in todo if self.centroid(it) is None]:
            job.error(
                it,
                "town",
                "",
                _(
                    "blank, and the enterprise has no lon/lat to find its town; give a town "
                    "code (known towns: %(known)s) or lon and lat"
                )
                % {"known": _known(job.known["town"])},
            )
        todo = [it for it in todo if it.ok]
        if not todo:
            return
        for it, code in zip(todo, self.locate_in(job, todo, "town"), strict=True):
            if code is None:
                job.error(
                    it,
                    "town",
                    "",
                    _(
                        "blank, and the point (%(lon).6f, %(lat).6f) lies in no town; give a town "
                        "code (known towns: %(known)s)"
                    )
                    % {
                        "lon": self.centroid(it)[0],
                        "lat": self.centroid(it)[1],
                        "known": _known(job.known["town"]),
                    },
                )
            else:
                it.data["town_id"] = towns[code][0]
                it.located.add("town")
        todo = [
            it
            for it in todo
            if it.ok and "park" not in it.refs and (job.has("park") or it.obj is None)
        ]
        if todo:
            parks = _ref_map(job, "park", ())
            for it, code in zip(todo, self.locate_in(job, todo, "park"), strict=True):
                it.data["park_id"] = parks[code][0] if code else None
                it.located.add("park")

    def check(self, job, items):
        super().check(job, [it for it in items if "park" not in it.located])


class IndicatorsKind(_Kind):
    kind = "indicators"
    model = IndicatorYear
    formats = ("csv", "xlsx", "geojson")
    key_cols = ("credit_code", "year")
    cols = (
        REF("credit_code", "enterprise", "enterprise_id", required=True),
        Col("year", p_integer(1949, 2100), "year", required=True),
        N("revenue_wan"),
        N("output_wan"),
        N("value_added_wan", min_value=None),
        N("tax_wan", min_value=None),
        Col("employees", p_integer(0), "employees"),
        N("rd_spend_wan"),
        N("energy_tce"),
        N("electricity_kwh"),
        N("emissions_t"),
        N("land_area_mu"),
    )

    def key_of(self, it):
        code, year = it.refs.get("credit_code"), it.data.get("year")
        return (code, year) if code is not None and year is not None else None

    def load_existing(self, job, items):
        ids = {it.data["enterprise_id"] for it in items if it.ok and "enterprise_id" in it.data}
        existing = {}
        for chunk in _chunks(ids):
            for obj in IndicatorYear.objects.filter(enterprise_id__in=chunk):
                existing[(obj.enterprise_id, obj.year)] = obj
        for it in items:
            if it.ok:
                it.obj = existing.get((it.data["enterprise_id"], it.data["year"]))


class LandGrantsKind(_Kind):
    kind = "land-grants"
    model = LandGrant
    key_cols = ("parcel", "enterprise")
    cols = (
        REF("parcel", "parcel", "parcel_id", required=True),
        REF("enterprise", "enterprise", "enterprise_id", required=True),
        Col("contract_start_on", p_date, "contract_start_on", required=True),
        N("contract_price_wan"),
        Col("started_on", p_date, "started_on"),
        Col("built_ratio", p_ratio, "built_ratio"),
        Col("invested_ratio", p_ratio, "invested_ratio"),
        Col("halted_since", p_date, "halted_since"),
    )

    def key_of(self, it):
        p, e = it.refs.get("parcel"), it.refs.get("enterprise")
        return (p, e) if p is not None and e is not None else None

    def load_existing(self, job, items):
        pids = {it.data["parcel_id"] for it in items if it.ok}
        existing = {}
        for chunk in _chunks(pids):
            for obj in LandGrant.objects.filter(parcel_id__in=chunk):
                existing[(obj.parcel_id, obj.enterprise_id)] = obj
        for it in items:
            if it.ok:
                it.obj = existing.get((it.data["parcel_id"], it.data["enterprise_id"]))


class TeamsKind(_Kind):
    """One row per member; the team's columns repeat (or are left blank) on its other rows."""

    kind = "teams"
    model = Team
    key_cols = ("code",)
    team_cols = ("name", "unit", "speciality")
    cols = (
        T("code", 32, required=True),
        Col("name", p_text(100)),
        Col("unit", p_text(64)),
        Col("speciality", p_text(200)),
        Col("member_name", p_text(50)),
        Col("member_title", p_text(50)),
        Col("member_phone", p_text(30)),
        Col("member_speciality", p_text(200)),
    )

    def required_columns(self, fmt):
        return ["code", "name", "unit"]

    def validate(self, job, rows):
        items = [self.clean(job, r) for r in rows]
        teams: dict[
            str, dict
        ] = {}  # code → {"first": item, "name": …, "unit": …, "speciality": …, "rows": {}}
        members: dict[tuple, _Item] = {}
        for it in items:
            code = it.data.get("code")
            if code is None:
                continue
            team = teams.setdefault(code, {"first": it, "values": {}, "rows": {}})
            for col in self.team_cols:
                v = it.extra.get(col)
                if v is None:
                    continue
                if col in team["values"] and team["values"][col] != v:
                    job.error(
                        it,
                        col,
                        v,
                        _(
                            "team '%(code)s' has %(col)s '%(other)s' in row %(row)d; all rows of a team "
                            "must agree (or leave the cell blank)"
                        )
                        % {
                            "code": code,
                            "col": col,
                            "other": team["values"][col],
                            "row": team["rows"][col],
                        },
                    )
                else:
                    team["values"][col] = v
                    team["rows"][col] = it.row
            member = it.extra.get("member_name")
            if member is None:
                filled = [
                    c
                    for c in ("member_title", "member_phone", "member_speciality")
                    if it.extra.get(c) is not None
                ]
                if filled:
                    job.error(
                        it,
                        "member_name",
                        "",
                        _("blank, but %(cols)s are filled; give the member's name")
                        % {"cols": ", ".join(filled)},
                    )
                continue
            first = members.get((code, member))
            if first is not None:
                job.error(
                    it,
                    "member_name",
                    member,
                    _("duplicate member '%(name)s' of team '%(code)s': also in row %(row)d")
                    % {"name": member, "code": code, "row": first.row},
                )
            else:
                members[(code, member)] = it
        for code, team in teams.items():
            for col in ("name", "unit"):
                if col not in team["values"]:
                    job.error(
                        team["first"],
                        col,
                        "",
                        _("blank on every row of team '%(code)s', but a value is required")
                        % {"code": code},
                    )
        units = self.unit_map()
        for team in teams.values():
            unit = team["values"].get("unit")
            if unit is None:
                continue
            if unit not in units:
                job.error(
                    team["first"],
                    "unit",
                    unit,
                    _(
                        "unknown unit '%(unit)s'; accepted: a town or park code or the "
                        "code of the district, a bureau or an SOE (known: %(known)s)"
                    )
                    % {"unit": unit, "known": _known(units)},
                )
            else:
                team["unit_id"] = units[unit]
        existing = _by_key(Team, "code", list(teams), select_related=("org_unit",))
        new_items = [
            _Item(t["first"].row, {}, key=code) for code, t in teams.items() if code not in existing
        ]
        self.reuse = _check_unit_codes(job, new_items, OrgKind.TEAM, Team)
        if job.report.errors:
            return []
        team_ids = [t.pk for t in existing.values()]
        stored_members = {}
        for chunk in _chunks(team_ids):
            for m in TeamMember.objects.filter(team_id__in=chunk):
                stored_members[(m.team_id, m.name)] = m
        now = timezone.now()
        tstep, mstep = _Step(Team), _Step(TeamMember)
        self.parents = {}
        for code, team in teams.items():
            obj = existing.get(code)
            values = {"code": code, "name": team["values"]["name"]}
            if job.has("speciality"):
                values["speciality"] = team["values"].get("speciality", "")
            moved = obj is not None and obj.org_unit.parent_id != team["unit_id"]
            tstep.add(team["first"], obj or Team(), values, now, force=moved)
            obj = obj or tstep.creates[-1]
            self.parents[code] = team["unit_id"]
            team["obj"] = obj
        for (code, name), it in members.items():
            team_obj = teams[code]["obj"]
            stored = stored_members.get((team_obj.pk, name)) if team_obj.pk else None
            values = {"name": name}
            for col, attr in (
                ("member_title", "title"),
                ("member_phone", "phone"),
                ("member_speciality", "speciality"),
            ):
                if job.has(col):
                    values[attr] = it.extra.get(col) or ""
            if stored is None:
                stored = TeamMember(team=team_obj)
            mstep.add(it, stored, values, now)
        return [tstep, mstep]

    def unit_map(self) -> dict[str, int]:
        units = dict(OrgUnit.objects.exclude(kind=OrgKind.TEAM).values_list("code", "pk"))
        units.update(dict(Town.objects.values_list("code", "org_unit_id")))
        units.update(dict(Park.objects.values_list("code", "org_unit_id")))
        return units

    def write(self, job, steps):
        tstep, mstep = steps
        _make_units(tstep.creates, OrgKind.TEAM, lambda obj: self.parents[obj.code], self.reuse)
        _sync_units(tstep.updates, lambda obj: self.parents[obj.code])
        self.write_step(job, tstep)
        for m in mstep.creates:
            m.team_id = m.team.pk
        self.write_step(job, mstep)


SPECS: dict[str, type[_Kind]] = {
    spec.kind: spec
    for spec in (
        TownsKind,
        ParksKind,
        ParcelsKind,
        BuildingsKind,
        PoisKind,
        EnterprisesKind,
        IndicatorsKind,
        LandGrantsKind,
        TeamsKind,
    )
}


def accepted_extensions(kind: str) -> list[str]:
    return sorted(e for e, f in FORMATS.items() if f in SPECS[kind].formats)


def column_help(kind: str) -> dict:
    """Formats, required and optional columns of a kind (for the upload page)."""
    spec = SPECS[kind]()
    required = spec.required_columns("geojson" if spec.geometry == "polygon" else "csv")
    optional = [
        c for c in sorted(spec.accepted_columns(), key=_column_order(spec)) if c not in required
    ]
    return {
        "extensions": accepted_extensions(kind),
        "required": required,
        "optional": optional,
        "geometry": spec.geometry,
    }


def _column_order(spec: _Kind):
    order = {c.name: i for i, c in enumerate(spec.cols)}
    order.update(lon=len(order), lat=len(order) + 1)
    return lambda name: (order.get(name, len(order)), name)

"""Store a generated district in the record store, in one transaction, fast.

* Shape fields (area, bbox, point on surface, simplified copy) come from the
  engine via `resources.spatial.shape_fields`, one batch per spatial kind.
* Primary keys are assigned here, so the circular parcel ↔ enterprise
  references are set in the same pass (foreign keys are checked at commit on
  SQLite and PostgreSQL), and PostgreSQL's sequences are moved past them after.
* Every row gets its initial history record ("+", reason "demo district").
* The library must be empty; `reset=True` first deletes every resource row and
  its history (plain DELETEs: no per-row signals and no "deleted" history
  records — a reset replaces the library, it does not edit it).

Two ways to insert, same rows, same result:

``fast`` (default) goes through Django's connection with ``executemany`` (COPY
on PostgreSQL): the
columns are the models' concrete fields, values that need converting for the
database (dates, datetimes, JSON) go through each field's
``get_db_prep_save``, defaults and ``auto_now`` fields are filled as the ORM
would, and the history rows reuse the prepared values. ``orm`` builds model
instances and calls ``simple_history.utils.bulk_create_with_history``. At
district scale (≈245k rows and as many history rows) the ORM path spends
about 55 s of CPU preparing 8.7 million field values and half a million model
instances, which alone breaks the one-minute budget on two cores; the fast
path needs under 10 s (figures: bench/bench_demo.py, demo/README.md).
"""

import time

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from investmap.core.choices import OrgKind
from investmap.core.models import OrgUnit
from investmap.resources.models import (
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
from investmap.resources.signals import library_changed
from investmap.resources.spatial import mu, shape_fields

from .model import INDICATOR_FIELDS, District, polygon

CHANGE_REASON = "demo district"
# Children before parents (the order of deletion; creation goes the other way).
RESOURCE_MODELS = [
    LandGrant,
    IndicatorYear,
    TeamMember,
    Team,
    Enterprise,
    Poi,
    Building,
    Parcel,
    Park,
    Town,
]
COUNTED = {
    "towns": Town,
    "parks": Park,
    "parcels": Parcel,
    "buildings": Building,
    "pois": Poi,
    "enterprises": Enterprise,
    "indicators": IndicatorYear,
    "land_grants": LandGrant,
    "teams": Team,
    "team_members": TeamMember,
}
BATCH = 5000
_CONVERTED = (
    models.DateField,
    models.TimeField,
    models.JSONField,
    models.DecimalField,
    models.UUIDField,
    models.DurationField,
    models.BinaryField,
)


class LibraryNotEmpty(Exception):
    """The resource library already holds data and no reset was asked for."""

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        held = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        super().__init__(
            f"The resource library is not empty ({held}). Run `investmap demo --reset` to delete it and "
            "write the demo district instead, or use an empty database."
        )


def library_counts() -> dict[str, int]:
    return {kind: model.objects.count() for kind, model in COUNTED.items()}


def write(
    district: District, *, reset: bool = False, history: bool = True, method: str = "fast", log=None
) -> dict[str, int]:
    """Write `district` into the record store in one transaction; rows written per kind."""
    if method not in ("fast", "orm"):
        raise ValueError("method is 'fast' or 'orm'")
    log = log or (lambda msg: None)
    written: dict[str, int] = {}
    with transaction.atomic():
        counts = library_counts()
        if any(counts.values()):
            if not reset:
                raise LibraryNotEmpty(counts)
            t0 = time.perf_counter()
            clear_library()
            log(
                f"  {'reset':<13}{sum(counts.values()):>8} rows deleted {time.perf_counter() - t0:7.2f} s"
            )
        _Writer(district, history, method, log, written).run()
        _reset_sequences()
        library_changed.send(sender=write, kinds=set(written))
    return written


def clear_library() -> None:
    """Delete every resource row and its history; other apps' rows that point at them first."""
    from .projects import clear_projects

    clear_projects()  # projects belong to the library they were written over (and keep no history)
    resource_set = set(RESOURCE_MODELS)
    for model in RESOURCE_MODELS:
        for rel in model._meta.related_objects:
            other = rel.related_model
            if other in resource_set or other._meta.app_label == model._meta.app_label:
                continue
            field = rel.field.name
            qs = other._default_manager.filter(**{f"{field}__isnull": False})
            if rel.on_delete is models.SET_NULL:
                qs.update(**{field: None})
            else:
                qs.delete()
    quote = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {quote(Parcel._meta.db_table)} SET {quote('enterprise_id')} = NULL")
        for model in RESOURCE_MODELS:
            cur.execute(f"DELETE FROM {quote(model._meta.db_table)}")
            cur.execute(f"DELETE FROM {quote(model.history.model._meta.db_table)}")


def _reset_sequences() -> None:
    """PostgreSQL: move id sequences past the ids assigned here (nothing to do on SQLite)."""
    sql = connection.ops.sequence_reset_sql(no_style(), [*RESOURCE_MODELS, OrgUnit])
    if sql:
        with connection.cursor() as cur:
            for statement in sql:
                cur.execute(statement)


def _next_id(model) -> int:
    return (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1


class _Table:
    """INSERT of a model's rows through the connection, values prepared by the fields."""

    def __init__(self, model, now):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        spec = []
        for f in self.fields:
            auto_now = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            spec.append((f.attname, f, auto_now, isinstance(f, _CONVERTED)))
        self.spec = spec
        self.now = now
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        self.sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(self.fields))})"
        self.copy_sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"

    def prepare(self, rows: list[dict]) -> list[tuple]:
        out = []
        missing = object()
        # auto_now / auto_now_add: one timestamp for the whole write; other defaults per row
        # (callables such as dict or list must not be shared between rows).
        stamps = {
            a: f.get_db_prep_save(self.now, connection)
            for a, f, auto_now, _c in self.spec
            if auto_now
        }
        for row in rows:
            values = []
            for attname, f, auto_now, conv in self.spec:
                if auto_now:
                    values.append(stamps[attname])
                    continue
                v = row.get(attname, missing)
                if v is missing:
                    v = f.get_default() if f.has_default() else None
                values.append(f.get_db_prep_save(v, connection) if conv else v)
            out.append(tuple(values))
        return out

    def insert(self, prepared: list[tuple]) -> None:
        _insert(self.sql, self.copy_sql, prepared)


def _insert(sql: str, copy_sql: str, rows: list[tuple]) -> None:
    """executemany in batches; on PostgreSQL, COPY (one stream instead of a statement per row)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        for i in range(0, len(rows), BATCH):
            cur.executemany(sql, rows[i : i + BATCH])


class _HistoryTable:
    """The initial '+' history rows of a model, from the model's prepared rows."""

    def __init__(self, main: _Table, now):
        hist = main.model.history.model
        quote = connection.ops.quote_name
        main_pos = {f.attname: i for i, f in enumerate(main.fields)}
        extra = {
            "history_date": hist._meta.get_field("history_date").get_db_prep_save(now, connection),
            "history_change_reason": CHANGE_REASON,
            "history_type": "+",
            "history_user_id": None,
        }
        fields = [f for f in hist._meta.concrete_fields if not f.primary_key]
        self.source = []  # per history column: index into the main row, or ("const", value)
        for f in fields:
            if f.attname in main_pos:
                self.source.append(main_pos[f.attname])
            elif f.attname in extra:
                self.source.append(("const", extra[f.attname]))
            else:
                self.source.append(
                    (
                        "const",
                        f.get_db_prep_save(
                            f.get_default() if f.has_default() else None, connection
                        ),
                    )
                )
        columns = ", ".join(quote(f.column) for f in fields)
        self.sql = f"INSERT INTO {quote(hist._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        self.copy_sql = f"COPY {quote(hist._meta.db_table)} ({columns}) FROM STDIN"

    def insert(self, prepared: list[tuple]) -> None:
        src = self.source
        _insert(
            self.sql,
            self.copy_sql,
            [tuple(row[s] if isinstance(s, int) else s[1] for s in src) for row in prepared],
        )


class _Writer:
    def __init__(self, d: District, history: bool, method: str, log, written: dict[str, int]):
        self.d, self.history, self.method, self.log, self.written = d, history, method, log, written
        self.now = timezone.now()

    def run(self):
        d = self.d
        units = self.org_units()
        self.town_id = self.shaped(
            "towns",
            Town,
            d.towns,
            lambda r: dict(code=r.code, name=r.name, org_unit_id=units[r.code]),
        )
        self.park_id = self.shaped(
            "parks",
            Park,
            d.parks,
            lambda r: dict(
                code=r.code, name=r.name, town_id=self.town_id[r.town], org_unit_id=units[r.code]
            ),
        )
        # Enterprise ids first, so parcels can name their occupant in the same pass.
        e0 = _next_id(Enterprise)
        self.ent_id = {e.credit_code: e0 + i for i, e in enumerate(d.enterprises)}
        self.parcel_id = self.shaped(
            "parcels",
            Parcel,
            d.parcels,
            lambda r: dict(
                code=r.code,
                name=r.name,
                town_id=self.town_id[r.town],
                park_id=self.park_id.get(r.park),
                land_use=r.land_use,
                status=r.status,
                plot_ratio_max=r.plot_ratio_max,
                plot_ratio_min=r.plot_ratio_min,
                height_limit_m=r.height_limit_m,
                price_wan=r.price_wan,
                owner=r.owner,
                enterprise_id=self.ent_id[r.enterprise] if r.enterprise else None,
            ),
        )
        self.building_id = self.shaped(
            "buildings",
            Building,
            d.buildings,
            lambda r: dict(
                code=r.code,
                name=r.name,
                town_id=self.town_id[r.town],
                park_id=self.park_id.get(r.park),
                parcel_id=self.parcel_id[r.parcel],
                building_type=r.building_type,
                floors=r.floors,
                height_m=r.height_m,
                total_floor_m2=r.total_floor_m2,
                vacant_floor_m2=r.vacant_floor_m2,
                rent_yuan_m2_day=r.rent_yuan_m2_day,
                floor_load_kn_m2=r.floor_load_kn_m2,
                clear_height_m=r.clear_height_m,
            ),
        )
        self.plain(
            "pois",
            Poi,
            [
                dict(
                    code=r.code,
                    name=r.name,
                    category=r.category,
                    town_id=self.town_id[r.town],
                    park_id=self.park_id.get(r.park),
                    lon=r.lon,
                    lat=r.lat,
                    address=r.address,
                    extra=r.extra,
                )
                for r in d.pois
            ],
        )
        self.plain(
            "enterprises",
            Enterprise,
            [
                dict(
                    id=self.ent_id[r.credit_code],
                    credit_code=r.credit_code,
                    name=r.name,
                    industry_code=r.industry_code,
                    scale=r.scale,
                    founded_on=r.founded_on,
                    town_id=self.town_id[r.town],
                    park_id=self.park_id.get(r.park),
                    parcel_id=self.parcel_id.get(r.parcel),
                    building_id=self.building_id.get(r.building),
                    lon=r.lon,
                    lat=r.lat,
                    address=r.address,
                    certifications=r.certifications,
                    contact_name=r.contact_name,
                    contact_phone=r.contact_phone,
                    contact_email=r.contact_email,
                )
                for r in d.enterprises
            ],
        )
        self.plain(
            "indicators",
            IndicatorYear,
            [
                dict(
                    enterprise_id=self.ent_id[r.credit_code],
                    year=r.year,
                    **{f: getattr(r, f) for f in INDICATOR_FIELDS},
                )
                for r in d.indicators
            ],
        )
        self.plain(
            "land_grants",
            LandGrant,
            [
                dict(
                    parcel_id=self.parcel_id[r.parcel],
                    enterprise_id=self.ent_id[r.enterprise],
                    contract_start_on=r.contract_start_on,
                    contract_price_wan=r.contract_price_wan,
                    started_on=r.started_on,
                    built_ratio=r.built_ratio,
                    invested_ratio=r.invested_ratio,
                    halted_since=r.halted_since,
                )
                for r in d.grants
            ],
        )
        t0 = _next_id(Team)
        team_id = {t.code: t0 + i for i, t in enumerate(d.teams)}
        self.plain(
            "teams",
            Team,
            [
                dict(
                    id=team_id[t.code],
                    code=t.code,
                    name=t.name,
                    org_unit_id=units[t.code],
                    speciality=t.speciality,
                )
                for t in d.teams
            ],
        )
        self.plain(
            "team_members",
            TeamMember,
            [
                dict(
                    team_id=team_id[t.code],
                    name=m.name,
                    title=m.title,
                    phone=m.phone,
                    speciality=m.speciality,
                )
                for t in d.teams
                for m in t.members
            ],
        )

    def org_units(self) -> dict[str, int]:
        """The org tree district → towns → parks, and a unit per team; upserted by code."""
        t0 = time.perf_counter()
        d = self.d
        wanted = [(d.code, d.name, OrgKind.DISTRICT, None)]
        wanted += [(t.code, t.name, OrgKind.TOWN, d.code) for t in d.towns]
        wanted += [(p.code, p.name, OrgKind.PARK, p.town) for p in d.parks]
        wanted += [(t.code, t.name, OrgKind.TEAM, t.unit) for t in d.teams]
        existing = {u.code: u for u in OrgUnit.objects.filter(code__in=[w[0] for w in wanted])}
        ids: dict[str, int] = {}
        for code, name, kind, parent in wanted:
            parent_id = ids[parent] if parent else None
            unit = existing.get(code)
            if unit is None:
                unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent_id=parent_id)
            elif (unit.name, unit.kind, unit.parent_id) != (name, kind, parent_id):
                unit.name, unit.kind, unit.parent_id = name, kind, parent_id
                unit.save(update_fields=["name", "kind", "parent"])
            ids[code] = unit.pk
        # Town, park and team units of an earlier demo, when no user belongs to them.
        stale = OrgUnit.objects.exclude(code__in=list(ids))
        for kind in (OrgKind.TEAM, OrgKind.PARK, OrgKind.TOWN):
            stale.filter(kind=kind, users__isnull=True, children__isnull=True).delete()
        self.log(f"  {'org units':<13}{len(ids):>8} rows {time.perf_counter() - t0:7.2f} s")
        return ids

    def shaped(self, kind: str, model, records, fields) -> dict[str, int]:
        """Rows with a polygon: shape fields from the engine in one batch, then the insert."""
        t0 = time.perf_counter()
        shapes = shape_fields([polygon(r.ring) for r in records])
        bad = [(r.code, s["error"]) for r, s in zip(records, shapes, strict=True) if "error" in s]
        if bad:
            raise ValueError(
                f"{kind}: {len(bad)} invalid geometries, first {bad[0][0]}: {bad[0][1]}"
            )
        t_shape = time.perf_counter() - t0
        names = {f.attname for f in model._meta.concrete_fields}
        start = _next_id(model)
        rows, ids = [], {}
        for i, (r, s) in enumerate(zip(records, shapes, strict=True)):
            row = fields(r)
            row.update({k: v for k, v in s.items() if k in names})
            if "area_mu" in names:
                row["area_mu"] = mu(s["area_m2"])
            row["id"] = start + i
            rows.append(row)
            ids[r.code] = start + i
        self._insert(kind, model, rows, t0, t_shape)
        return ids

    def plain(self, kind: str, model, rows: list[dict]) -> None:
        t0 = time.perf_counter()
        start = _next_id(model)
        for i, row in enumerate(rows):
            row.setdefault("id", start + i)
        self._insert(kind, model, rows, t0, None)

    def _insert(self, kind, model, rows, t0, t_shape):
        if self.method == "orm":
            objs = [model(**row) for row in rows]
            if self.history:
                bulk_create_with_history(
                    objs,
                    model,
                    batch_size=2000,
                    default_change_reason=CHANGE_REASON,
                    default_date=self.now,
                )
            else:
                model.objects.bulk_create(objs, batch_size=2000)
        else:
            table = _Table(model, self.now)
            prepared = table.prepare(rows)
            table.insert(prepared)
            if self.history:
                _HistoryTable(table, self.now).insert(prepared)
        self.written[kind] = len(rows)
        secs = time.perf_counter() - t0
        shape = f" (shapes {t_shape:.2f} s)" if t_shape is not None else ""
        rate = len(rows) / secs if secs > 0 else 0.0
        self.log(f"  {kind:<13}{len(rows):>8} rows {secs:7.2f} s {rate:9,.0f} rows/s{shape}")

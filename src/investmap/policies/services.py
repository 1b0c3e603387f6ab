"""Policy library services: keyword-only functions, the only writers, in transaction.atomic.

Import and versioning (this first part; reading and matching services follow below):

* `import_policies(content=, filename=, dry_run=, user=)` reads a YAML/JSON file of
  policies (document.py validates each and runs its own tests) and writes all of
  them or nothing. Per policy: a code not stored yet is **created** (version 1);
  a stored code whose latest version has the same digest is **unchanged**
  (nothing written); a different digest makes a **new version** n+1 and updates
  the `Policy` head (fields, `search_text`, `version`, `current`). Versions are
  never rewritten, so matches computed under an old version keep pointing at it.
* After a successful real import commits, `document.policy_changed` is sent once
  with ``sender=Policy, codes=[created and new-version codes]``.
* `import_report(...)` is the same import as a resources `ImportReport`, registered
  as the "policies" kind of `investmap import` in `apps.PoliciesConfig.ready()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from investmap.core.models import audit
from investmap.core.scope import Scope
from investmap.resources.choices import Certification, EnterpriseScale
from investmap.resources.importing import ImportReport, RowError
from investmap.resources.models import Enterprise
from investmap.resources.services import Forbidden, NotFound, parse_as_of

from . import conditions as cond
from . import search
from .choices import Level, PolicyType, Validity
from .document import ParsedFile, PolicyDoc, Problem, parse_document, policy_changed
from .models import Policy, PolicyVersion

__all__ = [
    "CREATED",
    "INVALID",
    "NEW_VERSION",
    "UNCHANGED",
    "PolicyImportReport",
    "import_policies",
    "import_report",
    "policy_changed",
    "detail",
    "version_document",
    "matches",
    "enterprise_policies",
    "plain",
]

# Per-policy statuses in an import report (a dry run reports what a real run would do).
CREATED = "created"
NEW_VERSION = "new_version"
UNCHANGED = "unchanged"
INVALID = "invalid"
CHUNK = 500  # codes per `IN (…)` query and rows per bulk statement


@dataclass
class _Step:
    policy: PolicyDoc
    status: str
    number: int  # the version that is (or would become) current
    head: Policy | None = None


def _chunks(seq, size=CHUNK):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _plan(policies: list[PolicyDoc], *, lock: bool) -> list[_Step]:
    """Compare each valid policy with the stored one: created, new version or unchanged."""
    heads: dict[str, Policy] = {}
    for codes in _chunks([p.code for p in policies]):
        qs = Policy.objects.filter(code__in=codes)
        if lock:
            qs = qs.select_for_update()
        heads.update({h.code: h for h in qs})
    latest: dict[int, tuple[int, str]] = {}
    for ids in _chunks([h.pk for h in heads.values()]):
        rows = (
            PolicyVersion.objects.filter(policy_id__in=ids)
            .order_by("policy_id", "number")
            .values_list("policy_id", "number", "digest")
        )
        for policy_id, number, digest in rows:
            latest[policy_id] = (number, digest)
    steps = []
    for p in policies:
        head = heads.get(p.code)
        if head is None:
            steps.append(_Step(p, CREATED, 1))
            continue
        number, digest = latest.get(head.pk, (0, ""))
        if digest == p.digest:
            steps.append(_Step(p, UNCHANGED, number, head))
        else:
            steps.append(_Step(p, NEW_VERSION, number + 1, head))
    return steps


def _write(steps: list[_Step], user) -> None:
    """Create the new heads, one version per created or changed policy, and update the heads."""
    changed = [s for s in steps if s.status in (CREATED, NEW_VERSION)]
    if not changed:
        return
    author = user if getattr(user, "is_authenticated", False) else None
    for s in changed:
        if s.status == CREATED:
            s.head = Policy(code=s.policy.code, **s.policy.head_fields())
    Policy.objects.bulk_create([s.head for s in changed if s.status == CREATED], batch_size=CHUNK)
    versions = [
        PolicyVersion(
            policy=s.head,
            number=s.number,
            document=s.policy.document,
            digest=s.policy.digest,
            created_by=author,
        )
        for s in changed
    ]
    PolicyVersion.objects.bulk_create(versions, batch_size=CHUNK)
    now = timezone.now()  # bulk_update does not set auto_now fields itself
    for s, v in zip(changed, versions, strict=True):
        for name, value in s.policy.head_fields().items():
            setattr(s.head, name, value)
        s.head.version, s.head.current, s.head.updated_at = s.number, v, now
        s.head.search_text = search.index_text(s.head)
    fields = ["version", "current", "search_text", "updated_at", *changed[0].policy.head_fields()]
    Policy.objects.bulk_update([s.head for s in changed], fields, batch_size=CHUNK)


def _row(index: int, code, status: str, version: int | None) -> dict:
    return {"index": index, "code": code, "status": status, "version": version}


def import_policies(*, content: bytes, filename: str, dry_run: bool = False, user=None) -> dict:
    """Validate every policy of a YAML/JSON file, run their tests and (unless `dry_run`)
    write them all or nothing. Never raises for bad input.

    Returns ``{"created", "updated", "unchanged", "errors", "dry_run", "policies"}``:
    counts of new policies, new versions and unchanged policies (all 0 when there are
    errors: nothing is written); errors as `Problem.as_dict()` (policy index and code,
    path, value, message); and one row per policy in file order
    ``{"index", "code", "status", "version"}`` with status created / new_version /
    unchanged / invalid and the version number that is (or would become) current.
    """
    limit = settings.INVESTMAP_IMPORT_MAX_BYTES
    if len(content) > limit:
        parsed = ParsedFile(
            filename=filename,
            policies=[],
            problems=[
                Problem(
                    None,
                    None,
                    "",
                    "",
                    _("the file is %(size)d bytes; the largest accepted import is %(limit)d")
                    % {"size": len(content), "limit": limit},
                )
            ],
        )
    else:
        parsed = parse_document(content=content, filename=filename)
    report: dict = {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
        "dry_run": dry_run,
        "policies": [],
    }
    steps: list[_Step] = []
    try:
        if parsed.problems or dry_run:
            steps = _plan(parsed.policies, lock=False)
        else:
            with transaction.atomic():
                steps = _plan(parsed.policies, lock=True)
                _write(steps, user)
                changed = [s.policy.code for s in steps if s.status in (CREATED, NEW_VERSION)]
                counts = _counts(steps)
                audit(
                    user=user,
                    action="import",
                    target="policies",
                    filename=filename,
                    ok=True,
                    **counts,
                    codes=changed[:100],
                )
                if changed:
                    transaction.on_commit(
                        lambda: policy_changed.send(sender=Policy, codes=list(changed))
                    )
    except IntegrityError as exc:
        parsed.problems.append(
            Problem(
                None,
                None,
                "",
                "",
                _(
                    "another change to the same policies happened during the import; "
                    "nothing was written; run the import again (%(reason)s)"
                )
                % {"reason": exc},
            )
        )
    by_index = {s.policy.index: s for s in steps}
    codes = {p.policy: p.code for p in parsed.problems if p.policy is not None}
    for index in range(parsed.count):
        step = by_index.get(index)
        if step is None:
            report["policies"].append(_row(index, codes.get(index), INVALID, None))
        else:
            report["policies"].append(_row(index, step.policy.code, step.status, step.number))
    report["errors"] = [p.as_dict() for p in parsed.problems]
    if parsed.problems:
        if not dry_run:
            audit(
                user=user,
                action="import",
                target="policies",
                filename=filename,
                ok=False,
                errors=len(parsed.problems),
            )
    else:
        report.update(_counts(steps))
    return report


def _counts(steps: list[_Step]) -> dict:
    return {
        "created": sum(s.status == CREATED for s in steps),
        "updated": sum(s.status == NEW_VERSION for s in steps),
        "unchanged": sum(s.status == UNCHANGED for s in steps),
    }


# --- `investmap import policies FILE` (the foundation's importer) ---------------------


@dataclass
class PolicyImportReport(ImportReport):
    """An ImportReport whose JSON is the policy import's own report (with per-policy rows)."""

    result: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return self.result


def import_report(*, content: bytes, filename: str, dry_run: bool, user=None) -> PolicyImportReport:
    """`import_policies` shaped as the resources importer's report (EXTRA_KINDS handler)."""
    result = import_policies(content=content, filename=filename, dry_run=dry_run, user=user)
    report = PolicyImportReport(
        kind="policies", filename=filename, dry_run=dry_run, row_label="policy", result=result
    )
    report.rows = len(result["policies"])
    report.created, report.updated, report.unchanged = (
        result["created"],
        result["updated"],
        result["unchanged"],
    )
    report.errors = [RowError(None, e["field"], e["value"], e["message"]) for e in result["errors"]]
    return report


# --- reading: policies, conditions in words, matches ------------------------------

FACT_LABELS = {
    "industry_code": gettext_lazy("industry code"),
    "scale": gettext_lazy("scale"),
    "town": gettext_lazy("town"),
    "park": gettext_lazy("park"),
    "age_years": gettext_lazy("years since founding"),
    "certifications": gettext_lazy("certifications"),
    "employees": gettext_lazy("employees"),
    "revenue_wan": gettext_lazy("revenue (10k yuan)"),
    "tax_wan": gettext_lazy("tax (10k yuan)"),
    "rd_spend_wan": gettext_lazy("R&D spend (10k yuan)"),
    "rd_intensity": gettext_lazy("R&D spend / revenue"),
    "value_added_wan": gettext_lazy("value added (10k yuan)"),
    "output_wan": gettext_lazy("industrial output (10k yuan)"),
    "efficiency_grade": gettext_lazy("efficiency grade (亩均)"),
}
OP_WORDS = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "ge": "≥",
    "le": "≤",
    "gt": ">",
    "lt": "<",
    "starts_with_any": gettext_lazy("starts with"),
    "contains": gettext_lazy("includes"),
}


def _value_words(v, fact: str = "") -> str:
    if isinstance(v, tuple | list):
        return "、".join(_value_words(x, fact) for x in v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    enum = {"certifications": Certification, "scale": EnterpriseScale}.get(fact)
    if enum is not None and v in enum.values:
        return str(enum(v).label)
    return str(v)


def plain(node) -> str:
    """A condition in the reader's language, e.g. 「营业收入（万元） ≥ 2000」."""
    if isinstance(node, cond.Group):
        inner = "；".join(plain(p) for p in node.parts)
        word = _("any of") if node.kind == "any" else _("all of")
        return f"{word}（{inner}）"
    return f"{FACT_LABELS[node.fact]} {OP_WORDS[node.op]} {_value_words(node.value, node.fact)}"


def _require(scope: Scope) -> None:
    if not scope.sees_resources:
        raise Forbidden(_("Your role has no access to the policy library."))


def _policy(code: str) -> Policy:
    policy = Policy.objects.select_related("current").filter(code=code).first()
    if policy is None or policy.current is None:
        raise NotFound(_("No policy with code %(code)s.") % {"code": code})
    return policy


def detail(*, code: str, scope: Scope, as_of=None) -> dict:
    """A policy's page: fields, validity, conditions in words, benefit, versions."""
    _require(scope)
    policy = _policy(code)
    day = search_as_of(as_of)
    doc = policy.current.document
    parsed = cond.parse(doc.get("conditions") or [])
    benefit = doc.get("benefit") or {}
    return {
        "code": policy.code,
        "title": policy.title,
        "level": policy.level,
        "level_label": str(Level(policy.level).label),
        "type": policy.policy_type,
        "type_label": str(PolicyType(policy.policy_type).label),
        "issuer": policy.issuer,
        "published_on": _iso(policy.published_on),
        "valid_from": _iso(policy.valid_from),
        "valid_to": _iso(policy.valid_to),
        "validity": search.validity(policy, day),
        "validity_label": str(Validity(search.validity(policy, day)).label),
        "tags": policy.tags,
        "industries": policy.industries,
        "text": policy.text,
        "interpretation": policy.interpretation,
        "source_url": policy.source_url,
        "version": policy.version,
        "conditions": [
            {"index": i, "text": plain(node), "data": cond.to_data(node)}
            for i, node in enumerate(parsed)
        ],
        "manual_conditions": list(doc.get("manual_conditions") or []),
        "benefit": {"formula": benefit.get("formula"), "unit": benefit.get("unit")}
        if benefit
        else None,
        "tests": len(doc.get("tests") or []),
        "versions": [
            {
                "number": v.number,
                "digest": v.digest[:12],
                "created_at": v.created_at.isoformat(),
                "by": v.created_by.username if v.created_by_id else None,
            }
            for v in policy.versions.select_related("created_by").order_by("-number")
        ],
    }


def version_document(*, code: str, number: int, scope: Scope) -> dict:
    _require(scope)
    policy = _policy(code)
    v = policy.versions.filter(number=number).first()
    if v is None:
        raise NotFound(_("Policy %(code)s has no version %(n)s.") % {"code": code, "n": number})
    return {"code": code, "number": v.number, "digest": v.digest, "document": v.document}


search_as_of = parse_as_of


def _enterprises_in_scope(scope: Scope):
    qs = Enterprise.objects.all()
    if scope.sensitive_org_ids is None:
        return qs
    ids = scope.sensitive_org_ids
    return qs.filter(Q(town__org_unit_id__in=ids) | Q(park__org_unit_id__in=ids))


def _localise(rows: list[dict], parsed_by_code: dict) -> list[dict]:
    for r in rows:
        parsed = parsed_by_code.get(r.get("policy"))
        if parsed is not None:
            for f in r["failed"]:
                f["label"] = plain(parsed[f["index"]])
    return rows


def matches(*, code: str, scope: Scope, as_of=None, result: str | None = None) -> dict:
    """Every enterprise in the user's scope against one policy (computed in the engine)."""
    from . import engine

    _require(scope)
    policy = _policy(code)
    day = search_as_of(as_of)
    doc = policy.current.document
    live = engine.in_force(doc, day)
    out = {"policy": code, "version": policy.version, "as_of": day.isoformat(), "in_force": live}
    if not live:
        out["results"] = []
        return out
    ids = (
        None
        if scope.sensitive_org_ids is None
        else list(_enterprises_in_scope(scope).values_list("pk", flat=True))
    )
    rows = engine.match_policy(documents=[doc], as_of=day, enterprise_ids=ids) if ids != [] else []
    _localise(rows, {code: cond.parse(doc.get("conditions") or [])})
    keys = ("credit_code", "result", "near_miss", "failed", "unknown", "amount_wan")
    results = [{k: r[k] for k in keys} for r in rows if result in (None, "", r["result"])]
    names = dict(
        Enterprise.objects.filter(credit_code__in=[r["credit_code"] for r in results]).values_list(
            "credit_code", "name"
        )
    )
    for r in results:
        r["name"] = names.get(r["credit_code"], "")
    out["summary"] = {
        k: sum(1 for r in rows if r["result"] == k)
        for k in ("eligible", "ineligible", "insufficient_data")
    }
    out["summary"]["near_miss"] = sum(1 for r in rows if r["near_miss"])
    out["results"] = results
    return out


def enterprise_policies(*, credit_code: str, scope: Scope, as_of=None) -> dict:
    """The reverse view: every policy in force against one enterprise."""
    from . import engine

    _require(scope)
    enterprise = _enterprises_in_scope(scope).filter(credit_code=credit_code).first()
    if enterprise is None:
        raise NotFound(_("No enterprise %(c)s in your scope.") % {"c": credit_code})
    day = search_as_of(as_of)
    heads = list(Policy.objects.select_related("current").exclude(current=None))
    docs = [p.current.document for p in heads]
    rows = engine.match_policy(documents=docs, as_of=day, enterprise_ids=[enterprise.pk])
    parsed = {p.code: cond.parse(p.current.document.get("conditions") or []) for p in heads}
    _localise(rows, parsed)
    titles = {p.code: p.title for p in heads}
    order = {"eligible": 0, "insufficient_data": 1, "ineligible": 2}
    results = sorted(
        (
            {
                "policy": r["policy"],
                "title": titles.get(r["policy"], ""),
                "result": r["result"],
                "near_miss": r["near_miss"],
                "failed": r["failed"],
                "unknown": r["unknown"],
                "amount_wan": r["amount_wan"],
            }
            for r in rows
        ),
        key=lambda r: (order[r["result"]], not r["near_miss"], -(r["amount_wan"] or 0)),
    )
    return {
        "credit_code": credit_code,
        "name": enterprise.name,
        "as_of": day.isoformat(),
        "results": results,
    }


def _iso(d):
    return d.isoformat() if d else None

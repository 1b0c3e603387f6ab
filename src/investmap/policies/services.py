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
from django.utils import timezone
from django.utils.translation import gettext as _

from investmap.core.models import audit
from investmap.resources.importing import ImportReport, RowError

from . import search
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

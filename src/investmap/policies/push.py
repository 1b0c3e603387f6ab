""" "Policy finds the enterprise" (SPEC S4): tell the officers in charge, once, and the digest.

When a policy is published or changes, or an enterprise newly qualifies, the
officers responsible for the enterprise's town or park get one inbox message per
(policy version, enterprise) — `core.notify` keys make it never twice, whatever
the number of refreshes. The digest groups the stored matches of the current
versions: new eligible firms, and near misses by the one condition they fail
("these three firms miss only the R&D threshold").
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Q
from django.utils.translation import gettext as _

from investmap.core.choices import Role
from investmap.core.models import Notification, OrgUnit, User
from investmap.core.scope import Scope, scope_root

from .models import PolicyMatch


def _officers_by_unit() -> dict[int, list[User]]:
    """Active town / park officers (and team members) by the unit whose subtree they cover."""
    out: dict[int, list[User]] = defaultdict(list)
    units = {u.pk: u for u in OrgUnit.objects.all()}
    for user in User.objects.filter(role=Role.TOWN_OFFICER, is_active=True).select_related(
        "org_unit"
    ):
        root = scope_root(user.org_unit)
        if root is not None and root.pk in units:
            out[root.pk].append(user)
    return out


def _covering(unit_id: int | None, parents: dict[int, int | None]) -> list[int]:
    """The unit and every unit above it (an officer of a town covers the town's parks)."""
    chain = []
    while unit_id is not None and unit_id not in chain:
        chain.append(unit_id)
        unit_id = parents.get(unit_id)
    return chain


def push(*, match_ids=None, log=None) -> dict:
    """Send the stored eligible pairs not yet notified (near misses go to the digest only)."""
    # Near misses are for the digest, not for one message each: mark them, send nothing.
    quiet = PolicyMatch.objects.filter(notified=False).exclude(result="eligible")
    if match_ids is not None:
        quiet = quiet.filter(pk__in=list(match_ids))
    quiet.update(notified=True)
    qs = PolicyMatch.objects.filter(notified=False, result="eligible").select_related(
        "version__policy", "enterprise__town", "enterprise__park"
    )
    if match_ids is not None:
        qs = qs.filter(pk__in=list(match_ids))
    officers = _officers_by_unit()
    parents = dict(OrgUnit.objects.values_list("pk", "parent_id"))
    sent = skipped = 0
    done: list[int] = []
    batch: list[Notification] = []

    def deliver():
        # One query for what was delivered before, one bulk insert for the rest; the
        # (user, key) constraint still guards against a concurrent run.
        nonlocal sent, skipped
        keys = {n.key for n in batch}
        before = set(Notification.objects.filter(key__in=keys).values_list("user_id", "key"))
        fresh = [n for n in batch if (n.user_id, n.key) not in before]
        Notification.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
        sent += len(fresh)
        skipped += len(batch) - len(fresh)
        batch.clear()

    for m in qs.iterator(chunk_size=2000):
        e = m.enterprise
        units = set()
        for place in (e.park, e.town):
            if place is not None:
                units.update(_covering(place.org_unit_id, parents))
        recipients = {u.pk for unit in units for u in officers.get(unit, ())}
        policy = m.version.policy
        title = _("%(e)s qualifies for %(p)s") % {"e": e.name, "p": policy.title}
        body = ""
        if m.amount_wan is not None:
            body = _("Estimated amount: %(a)s 万元") % {"a": f"{m.amount_wan:,.2f}"}
        for user_id in sorted(recipients):
            batch.append(
                Notification(
                    user_id=user_id,
                    key=f"policy-match:{m.version_id}:{e.pk}",
                    kind="policy_match",
                    title=title[:200],
                    body=body,
                    url=f"/policies/{policy.code}/",
                )
            )
        done.append(m.pk)
        if len(batch) >= 2000:
            deliver()
    deliver()
    for i in range(0, len(done), 5000):
        PolicyMatch.objects.filter(pk__in=done[i : i + 5000]).update(notified=True)
    if log:
        log(_("%(n)s messages sent, %(s)s already delivered") % {"n": sent, "s": skipped})
    return {"matches": len(done), "sent": sent, "already": skipped}


def _failed_label(m: PolicyMatch, parsed: dict) -> str:
    """The one failed condition of a near miss in the reader's words (services.plain)."""
    from . import conditions, services

    if m.version_id not in parsed:
        parsed[m.version_id] = conditions.parse(m.version.document.get("conditions") or [])
    first = (m.failed or [{}])[0]
    index = first.get("index")
    nodes = parsed[m.version_id]
    if isinstance(index, int) and 0 <= index < len(nodes):
        return services.plain(nodes[index])
    return first.get("label", "?")


def _scoped(qs, scope: Scope):
    if scope.sensitive_org_ids is None:
        return qs
    ids = scope.sensitive_org_ids
    return qs.filter(
        Q(enterprise__town__org_unit_id__in=ids) | Q(enterprise__park__org_unit_id__in=ids)
    )


def digest(*, scope: Scope, since=None, limit_per_policy: int = 50) -> list[dict]:
    """New matches and near misses of the current policy versions, grouped for reading."""
    qs = PolicyMatch.objects.filter(version__policy__current_id=F("version_id")).select_related(
        "version__policy", "enterprise"
    )
    qs = _scoped(qs, scope)
    if since is not None:
        qs = qs.filter(first_seen_at__gte=since)
    by_policy: dict[int, dict] = {}
    parsed: dict[int, tuple] = {}
    for m in qs.order_by("version__policy__code", "-amount_wan", "enterprise__name"):
        policy = m.version.policy
        entry = by_policy.setdefault(
            policy.pk,
            {
                "code": policy.code,
                "title": policy.title,
                "version": m.version.number,
                "eligible": [],
                "near_misses": defaultdict(list),
            },
        )
        firm = {
            "credit_code": m.enterprise.credit_code,
            "name": m.enterprise.name,
            "amount_wan": m.amount_wan,
            "first_seen_at": m.first_seen_at.isoformat(),
        }
        if m.result == "eligible":
            if len(entry["eligible"]) < limit_per_policy:
                entry["eligible"].append(firm)
        else:
            entry["near_misses"][_failed_label(m, parsed)].append(firm)
    out = []
    for entry in by_policy.values():
        entry["near_misses"] = [
            {"condition": label, "count": len(firms), "firms": firms[:limit_per_policy]}
            for label, firms in sorted(entry["near_misses"].items(), key=lambda kv: -len(kv[1]))
        ]
        out.append(entry)
    return out

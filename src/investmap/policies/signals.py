"""Keep the stored matches fresh: what changed is marked, and refreshed after the commit.

* an Enterprise or one of its IndicatorYear rows saved or deleted (the edit
  API, the admin) → that enterprise against every policy;
* a bulk write (`resources.signals.library_changed` from imports and the demo
  writer) of enterprises, indicators, towns or parks, a Town or Park saved, an
  efficiency Evaluation stored or deleted (grades are facts) → everything;
* a policy imported or given a new version (`document.policy_changed`, sent
  after the import commits) → that policy against every enterprise.

Marks are kept per thread until the transaction commits; each mark registers
a `transaction.on_commit` callback and the first one to run refreshes the
union of the marks (`engine.refresh`, scoped) — so a savepoint rolled back
cannot lose the callback and a loop of saves costs one refresh. Outside a
transaction the callback runs at once. A failed refresh keeps its marks for
the next one; a periodic full `engine.refresh()` (the `investmap policies`
command) catches anything lost with the process.

Tests that run inside one transaction never see the commit: call `flush()`
before reading stored matches — it refreshes the marks now, reading the
uncommitted rows through the ORM (engine._in_engine). Settings:
``INVESTMAP_POLICY_REFRESH = "commit"`` (default) or ``"off"`` (marks are kept
for `flush()` only).
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from investmap.efficiency.models import Evaluation
from investmap.resources.models import Enterprise, IndicatorYear, Park, Town
from investmap.resources.signals import library_changed

from .document import policy_changed

log = logging.getLogger(__name__)

BULK_KINDS = {"enterprises", "indicators", "towns", "parks"}

_state = threading.local()


def pending() -> dict:
    """This thread's marks: ``{"all": bool, "enterprises": set, "policies": set}``."""
    p = getattr(_state, "marks", None)
    if p is None:
        p = _state.marks = {"all": False, "enterprises": set(), "policies": set()}
    return p


def _take() -> dict:
    p = pending()
    _state.marks = None
    return p


def _restore(marks: dict) -> None:
    p = pending()
    p["all"] = p["all"] or marks["all"]
    p["enterprises"] |= marks["enterprises"]
    p["policies"] |= marks["policies"]


def mark(*, everything: bool = False, enterprises=(), policies=()) -> None:
    p = pending()
    p["all"] = p["all"] or everything
    p["enterprises"].update(int(x) for x in enterprises if x is not None)
    p["policies"].update(str(x) for x in policies)
    if getattr(settings, "INVESTMAP_POLICY_REFRESH", "commit") == "commit":
        transaction.on_commit(_after_commit)


def _after_commit() -> None:
    try:
        if flush():
            from . import push

            push.push()  # "policy finds the enterprise": new eligible firms, once
    except Exception:  # the marks stay for the next refresh
        log.exception("refreshing the stored policy matches failed; will retry on the next change")


def flush(*, as_of=None) -> list[dict]:
    """Refresh what the marks name, now; returns the refresh results (empty: nothing to do)."""
    marks = _take()
    if not (marks["all"] or marks["enterprises"] or marks["policies"]):
        return []
    from . import engine
    from .models import Policy

    if not Policy.objects.exclude(current=None).exists():
        return []
    done = []
    try:
        if marks["all"]:
            done.append(engine.refresh(as_of=as_of))
        else:
            if marks["enterprises"]:
                done.append(
                    engine.refresh(as_of=as_of, enterprise_ids=sorted(marks["enterprises"]))
                )
            if marks["policies"]:
                done.append(engine.refresh(as_of=as_of, policy_codes=sorted(marks["policies"])))
    except Exception:
        _restore(marks)
        raise
    return done


def on_policy_changed(codes) -> None:
    """Policies created or given a new version: match them against every enterprise."""
    mark(policies=codes)


def _policy_changed(sender, codes=(), **kwargs):
    on_policy_changed(codes)


def _enterprise_changed(sender, instance, raw=False, **kwargs):
    mark(enterprises=[instance.pk])


def _indicator_changed(sender, instance, raw=False, **kwargs):
    mark(enterprises=[instance.enterprise_id])


def _everything(sender, instance=None, raw=False, **kwargs):
    mark(everything=True)


def _library_changed(sender, kinds=(), **kwargs):
    if BULK_KINDS & set(kinds):
        mark(everything=True)


def connect() -> None:
    post_save.connect(_enterprise_changed, sender=Enterprise, dispatch_uid="policies-ent-save")
    post_delete.connect(_enterprise_changed, sender=Enterprise, dispatch_uid="policies-ent-del")
    post_save.connect(_indicator_changed, sender=IndicatorYear, dispatch_uid="policies-ind-save")
    post_delete.connect(_indicator_changed, sender=IndicatorYear, dispatch_uid="policies-ind-del")
    for model in (Town, Park, Evaluation):
        name = model.__name__
        post_save.connect(_everything, sender=model, dispatch_uid=f"policies-{name}-save")
        post_delete.connect(_everything, sender=model, dispatch_uid=f"policies-{name}-del")
    library_changed.connect(_library_changed, dispatch_uid="policies-library")
    policy_changed.connect(_policy_changed, dispatch_uid="policies-changed")

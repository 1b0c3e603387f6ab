"""Keep the derived tables honest: every change to a parcel, building or POI is marked.

Row edits (the edit API, the admin) arrive as Django model signals; bulk writes
(imports, the demo writer) as resources.signals.library_changed. Each leaves a
StaleMark in the same transaction; after the commit the derived tables are
refreshed (INVESTMAP_MATCH_REFRESH="commit", the default) — and a match always
refreshes first if marks remain, so nothing reads stale features.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from investmap.resources.models import Building, Parcel, Park, Poi, Town
from investmap.resources.signals import library_changed

log = logging.getLogger(__name__)

KIND_OF = {"parcels": "parcel", "buildings": "building", "pois": "poi"}


def _mark(**fields) -> None:
    from .models import StaleMark

    StaleMark.objects.create(**fields)
    _schedule()


def _schedule() -> None:
    if getattr(settings, "INVESTMAP_MATCH_REFRESH", "commit") != "commit":
        return
    # One callback per mark; after the first has refreshed, the rest find no marks.
    transaction.on_commit(_refresh_after_commit)


def _refresh_after_commit() -> None:
    from . import features

    try:
        features.ensure_fresh()
    except Exception:  # the marks stay; the next match or `match rebuild` retries
        log.exception("refreshing the matching features failed; will retry on the next match")


def _shape_before(sender, instance, raw=False, **kwargs):
    old = None
    if instance.pk and not raw:
        old = sender.objects.filter(pk=instance.pk).values_list("geometry", flat=True).first()
    instance._matching_geometry_before = old


def _shape_saved(sender, instance, raw=False, created=False, **kwargs):
    if raw:  # loaddata: the whole kind, as for an import
        _mark(kind=sender.__name__.lower())
        return
    before = getattr(instance, "_matching_geometry_before", None)
    # Same outline: only attributes changed (status, price …); the features stay
    # valid and the refresh only renews the index token.
    same = not created and before is not None and before == instance.geometry
    _mark(kind=sender.__name__.lower(), ref_id=instance.pk, shape=not same)


def _shape_deleted(sender, instance, **kwargs):
    _mark(kind=sender.__name__.lower(), ref_id=instance.pk)


def _poi_before(sender, instance, raw=False, **kwargs):
    old = None
    if instance.pk and not raw:
        old = Poi.objects.filter(pk=instance.pk).values("category", "lon", "lat").first()
    instance._matching_before = old


def _poi_saved(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata: every category
        _mark(kind="poi")
        return
    old = getattr(instance, "_matching_before", None)
    if old is None:
        _mark(kind="poi", ref_id=instance.pk, category=instance.category)
        return
    moved = (old["lon"], old["lat"]) != (instance.lon, instance.lat)
    if old["category"] != instance.category:
        _mark(
            kind="poi",
            ref_id=instance.pk,
            category=old["category"],
            old_lon=old["lon"],
            old_lat=old["lat"],
        )
        _mark(kind="poi", ref_id=instance.pk, category=instance.category)
    elif moved:
        _mark(
            kind="poi",
            ref_id=instance.pk,
            category=instance.category,
            old_lon=old["lon"],
            old_lat=old["lat"],
        )


def _poi_deleted(sender, instance, **kwargs):
    _mark(
        kind="poi",
        ref_id=instance.pk,
        category=instance.category,
        old_lon=instance.lon,
        old_lat=instance.lat,
    )


def _library_changed(sender, kinds=(), **kwargs):
    for kind in sorted(kinds):
        if kind in KIND_OF:
            _mark(kind=KIND_OF[kind])


def _place_saved(sender, instance, raw=False, **kwargs):
    # The match index holds town and park codes: renew it.
    _mark(kind="place", ref_id=instance.pk, shape=False)


def connect() -> None:
    for model in (Town, Park):
        post_save.connect(
            _place_saved, sender=model, dispatch_uid=f"matching-place-{model.__name__}"
        )
        post_delete.connect(
            _place_saved, sender=model, dispatch_uid=f"matching-place-del-{model.__name__}"
        )
    for model in (Parcel, Building):
        pre_save.connect(
            _shape_before, sender=model, dispatch_uid=f"matching-before-{model.__name__}"
        )
        post_save.connect(
            _shape_saved, sender=model, dispatch_uid=f"matching-save-{model.__name__}"
        )
        post_delete.connect(
            _shape_deleted, sender=model, dispatch_uid=f"matching-del-{model.__name__}"
        )
    pre_save.connect(_poi_before, sender=Poi, dispatch_uid="matching-poi-before")
    post_save.connect(_poi_saved, sender=Poi, dispatch_uid="matching-poi-save")
    post_delete.connect(_poi_deleted, sender=Poi, dispatch_uid="matching-poi-del")
    library_changed.connect(_library_changed, dispatch_uid="matching-library")

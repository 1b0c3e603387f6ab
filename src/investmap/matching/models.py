"""Precomputed accessibility and adjacency (SPEC M1–M3), and saved candidate lists.

The analysis engine writes these tables (features.py); matches and pages read
them. They are derived data: `investmap match rebuild` recomputes all of them,
and every change to a parcel, building or POI leaves a StaleMark that the next
refresh consumes (signals.py), so they are never read stale.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from investmap.resources.models import Building, Parcel


class FeatureState(models.Model):
    """One row (pk=1): the generation of the derived tables and how it was built.

    Every refresh bumps `generation`; a web process keeps its in-memory match
    index only while the generation it loaded is current (snapshot.py).
    """

    generation = models.PositiveBigIntegerField(default=0)
    # Random per refresh: the key of a process's in-memory index (a rolled-back
    # refresh may reuse a generation number, never a token).
    token = models.CharField(max_length=32, blank=True)
    epsg = models.CharField(max_length=16, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("matching feature state")

    def __str__(self):
        return f"generation {self.generation}"


class _Features(models.Model):
    # Projected (UTM, metres) point on the surface and the largest distance from
    # it to the outline: the bounds that let a KD-tree answer polygon questions.
    x = models.FloatField()
    y = models.FloatField()
    reach_m = models.FloatField()
    # category → metres from the polygon to the nearest POI (absent: none exists)
    distances = models.JSONField(default=dict)
    # category → id of that nearest POI
    nearest = models.JSONField(default=dict)
    # str(radius) → {category: POIs within the radius of the representative point}
    counts = models.JSONField(default=dict)
    # The distances again, packed: float64 per category in PACKED_ORDER (NaN:
    # none), so a process loads the match index without decoding JSON.
    packed = models.BinaryField(default=b"")
    generation = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


class ParcelFeature(_Features):
    parcel = models.OneToOneField(
        Parcel, on_delete=models.CASCADE, primary_key=True, related_name="features"
    )

    class Meta:
        verbose_name = _("parcel accessibility")

    def __str__(self):
        return f"features of parcel {self.parcel_id}"


class BuildingFeature(_Features):
    building = models.OneToOneField(
        Building, on_delete=models.CASCADE, primary_key=True, related_name="features"
    )

    class Meta:
        verbose_name = _("building accessibility")

    def __str__(self):
        return f"features of building {self.building_id}"


class Adjacency(models.Model):
    """Two parcels whose outlines are within the adjacency distance (a < b)."""

    a = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="+")
    gap_m = models.FloatField()

    class Meta:
        verbose_name = _("parcel adjacency")
        constraints = [
            models.UniqueConstraint(fields=["a", "b"], name="adjacency_pair"),
            models.CheckConstraint(
                condition=models.Q(a__lt=models.F("b")), name="adjacency_a_lt_b"
            ),
        ]

    def __str__(self):
        return f"{self.a_id}–{self.b_id} ({self.gap_m} m)"


class StaleMark(models.Model):
    """Something changed that the derived tables depend on; consumed by refresh()."""

    KINDS = (("parcel", "parcel"), ("building", "building"), ("poi", "poi"), ("place", "place"))
    kind = models.CharField(max_length=16, choices=KINDS)
    # None: every record of the kind (an import, the demo writer)
    ref_id = models.BigIntegerField(null=True, blank=True)
    # POIs: the category touched; blank: every category
    category = models.CharField(max_length=32, blank=True)
    # False: the record's attributes changed but not its outline (no recompute)
    shape = models.BooleanField(default=True)
    # POIs: the position before the change (an edit that moved or deleted it)
    old_lon = models.FloatField(null=True, blank=True)
    old_lat = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.kind} {self.ref_id or 'all'} {self.category}".strip()


class CandidateList(models.Model):
    """A saved demand and the candidate sites it produced ("save as candidate sites").

    A project (projects app) will point at one of these and pick a site from it.
    """

    name = models.CharField(_("name"), max_length=200)
    demand = models.JSONField(_("demand"))
    results = models.JSONField(_("candidate sites"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("candidate site list")
        verbose_name_plural = _("candidate site lists")

    def __str__(self):
        return self.name

"""Abstract model bases shared by the domain apps."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Timestamped(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Optimistic lock: an edit names the version it started from; a mismatch is a
    # concurrent edit and is refused (services.update_record).
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        abstract = True


class Located(models.Model):
    """A point (lon/lat, WGS84) with an index for viewport queries."""

    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)

    class Meta:
        abstract = True
        indexes = []


class Shaped(models.Model):
    """A GeoJSON geometry (WGS84) with its bbox, centroid and a simplified copy.

    The record store keeps plain GeoJSON text so SQLite and PostgreSQL behave the
    same; the analysis engine parses it (ST_GeomFromGeoJSON) for spatial work.
    `geom_simple` is the geometry simplified for low zoom levels on the map.
    """

    geometry = models.TextField(_("geometry (GeoJSON)"))
    geom_simple = models.TextField(blank=True, default="")
    min_lon = models.FloatField(db_index=True, default=0)
    min_lat = models.FloatField(db_index=True, default=0)
    max_lon = models.FloatField(db_index=True, default=0)
    max_lat = models.FloatField(db_index=True, default=0)
    lon = models.FloatField(_("centroid longitude"), default=0)
    lat = models.FloatField(_("centroid latitude"), default=0)

    class Meta:
        abstract = True

"""Enums that carry their presentation: value, translated label, colour.

Every table, form, map legend and chart reads labels and colours from here
(ARCHITECTURE.md example 5). Labels are English msgids translated to Chinese by
the locale files; `label_en` gives the English label whatever the language.
"""

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class ColoredChoices(models.TextChoices):
    """TextChoices whose members know their colour (`color_map` set by `colors`)."""

    @property
    def color(self) -> str:
        return type(self).color_map.get(self.value, "#888888")

    @property
    def label_en(self) -> str:
        with translation.override("en"):
            return str(self.label)

    @classmethod
    def legend(cls) -> list[dict]:
        return [{"value": m.value, "label": str(m.label), "color": m.color} for m in cls]


def colors(mapping: dict[str, str]):
    """Class decorator attaching the colour of each member by value."""

    def attach(cls):
        missing = {m.value for m in cls} - set(mapping)
        if missing:
            raise ValueError(f"{cls.__name__}: no colour for {sorted(missing)}")
        cls.color_map = dict(mapping)
        return cls

    return attach


class Role(models.TextChoices):
    DISTRICT_LEADER = "district_leader", _("District leader")
    BUREAU_STAFF = "bureau_staff", _("Bureau staff")
    TOWN_OFFICER = "town_officer", _("Town / park officer")
    DATA_MAINTAINER = "data_maintainer", _("Data maintainer")
    ENTERPRISE = "enterprise", _("Enterprise user")
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    SECURITY_ADMIN = "security_admin", _("Security administrator")
    AUDIT_ADMIN = "audit_admin", _("Audit administrator")


class OrgKind(models.TextChoices):
    DISTRICT = "district", _("District")
    TOWN = "town", _("Town")
    PARK = "park", _("Park")
    BUREAU = "bureau", _("Bureau")
    SOE = "soe", _("State-owned enterprise")
    TEAM = "team", _("Team")

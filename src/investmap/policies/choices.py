"""Enums of the policy library, with their labels and colours."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from investmap.core.choices import ColoredChoices, colors


@colors({"national": "#c62828", "municipal": "#ef6c00", "district": "#1e88e5"})
class Level(ColoredChoices):
    NATIONAL = "national", pgettext_lazy("policy level", "National")
    MUNICIPAL = "municipal", pgettext_lazy("policy level", "Municipal")
    DISTRICT = "district", pgettext_lazy("policy level", "District")


@colors({"basic": "#546e7a", "industry": "#6a1b9a", "case_by_case": "#00897b"})
class PolicyType(ColoredChoices):
    BASIC = "basic", _("Basic")
    INDUSTRY = "industry", _("Industry-specific")
    CASE_BY_CASE = "case_by_case", _("Case by case (一事一议)")


@colors(
    {
        "space": "#6d4c41",
        "facilities": "#00897b",
        "fiscal": "#c62828",
        "talent": "#8e24aa",
        "finance": "#1e88e5",
        "rd": "#43a047",
        "other": "#757575",
    }
)
class Tag(ColoredChoices):
    SPACE = "space", _("Space")
    FACILITIES = "facilities", _("Supporting facilities")
    FISCAL = "fiscal", _("Fiscal and tax")
    TALENT = "talent", _("Talent")
    FINANCE = "finance", _("Finance")
    RD = "rd", _("R&D")
    OTHER = "other", _("Other")


@colors(
    {
        "in_force": "#43a047",
        "expiring": "#fb8c00",
        "expired": "#9e9e9e",
        "not_yet": "#1e88e5",
    }
)
class Validity(ColoredChoices):
    IN_FORCE = "in_force", _("In force")
    EXPIRING = "expiring", _("Expiring within 30 days")
    EXPIRED = "expired", _("Expired")
    NOT_YET = "not_yet", _("Not yet in force")


@colors({"eligible": "#43a047", "ineligible": "#9e9e9e", "insufficient_data": "#fb8c00"})
class MatchResult(ColoredChoices):
    ELIGIBLE = "eligible", _("Eligible")
    INELIGIBLE = "ineligible", _("Ineligible")
    INSUFFICIENT_DATA = "insufficient_data", _("Need more information")

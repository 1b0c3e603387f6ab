"""Enums of the efficiency app, each with its label and colour."""

from django.utils.translation import gettext_lazy as _

from investmap.core.choices import ColoredChoices, colors


@colors({"A": "#2e7d32", "B": "#1565c0", "C": "#f9a825", "D": "#c62828"})
class Grade(ColoredChoices):
    A = "A", _("Grade A (encouraged)")
    B = "B", _("Grade B (supported)")
    C = "C", _("Grade C (to improve)")
    D = "D", _("Grade D (to be renewed)")


@colors({"scored": "#2e7d32", "insufficient_data": "#9e9e9e"})
class ResultStatus(ColoredChoices):
    SCORED = "scored", _("Scored")
    INSUFFICIENT_DATA = "insufficient_data", _("Insufficient data")


@colors({"not_started_1y": "#311b92", "halted_1y": "#ad1457"})
class IdleReason(ColoredChoices):
    NOT_STARTED_1Y = "not_started_1y", _("Not started one year after the contracted date")
    HALTED_1Y = "halted_1y", _("Halted for one year, under 1/3 built or 25 percent invested")


@colors({"low_grade": "#fb8c00", "low_far": "#6d4c41"})
class LowEfficiencyReason(ColoredChoices):
    LOW_GRADE = "low_grade", _("Occupant graded low")
    LOW_FAR = "low_far", _("Built floor area far below the plot ratio")

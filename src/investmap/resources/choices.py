"""Enums of the resource library, each with its label and colour."""

from django.utils.translation import gettext_lazy as _

from investmap.core.choices import ColoredChoices, colors


@colors(
    {
        "planned": "#9e9e9e",
        "available": "#2e7d32",
        "in_use": "#1565c0",
        "idle": "#e53935",
        "low_efficiency": "#fb8c00",
        "renewal": "#8e24aa",
    }
)
class ParcelStatus(ColoredChoices):
    PLANNED = "planned", _("Planned")
    AVAILABLE = "available", _("Available")
    IN_USE = "in_use", _("In use")
    IDLE = "idle", _("Idle")
    LOW_EFFICIENCY = "low_efficiency", _("Low efficiency")
    RENEWAL = "renewal", _("Under renewal")


# Planned land use, after GB 50137-2011 (城市用地分类与规划建设用地标准) and the
# Shanghai practice of industrial (M) and R&D (M0) land.
@colors(
    {
        "M1": "#a1887f",
        "M2": "#8d6e63",
        "M3": "#6d4c41",
        "M0": "#7e57c2",
        "W1": "#90a4ae",
        "B1": "#ef5350",
        "B2": "#f06292",
        "R2": "#ffd54f",
        "A": "#4fc3f7",
        "S": "#bdbdbd",
        "G1": "#66bb6a",
        "U": "#78909c",
    }
)
class LandUse(ColoredChoices):
    M1 = "M1", _("M1 Class-1 industrial")
    M2 = "M2", _("M2 Class-2 industrial")
    M3 = "M3", _("M3 Class-3 industrial")
    M0 = "M0", _("M0 Industrial R&D")
    W1 = "W1", _("W1 Logistics and warehousing")
    B1 = "B1", _("B1 Commercial")
    B2 = "B2", _("B2 Business office")
    R2 = "R2", _("R2 Residential")
    A = "A", _("A Public administration and services")
    S = "S", _("S Roads and transport")
    G1 = "G1", _("G1 Parks and green space")
    U = "U", _("U Public utilities")


@colors({"office": "#3949ab", "factory": "#6d4c41", "mixed": "#00897b"})
class BuildingType(ColoredChoices):
    OFFICE = "office", _("Office")
    FACTORY = "factory", _("Factory")
    MIXED = "mixed", _("Mixed use")


@colors(
    {
        "metro_station": "#d32f2f",
        "bus_stop": "#7cb342",
        "expressway_ramp": "#455a64",
        "school": "#fbc02d",
        "hospital": "#e91e63",
        "talent_housing": "#ff7043",
        "university": "#5e35b1",
        "rd_center": "#1e88e5",
        "incubator": "#00acc1",
        "key_lab": "#3949ab",
        "park_green": "#43a047",
        "shopping": "#f4511e",
    }
)
class PoiCategory(ColoredChoices):
    METRO_STATION = "metro_station", _("Metro station")
    BUS_STOP = "bus_stop", _("Bus stop")
    EXPRESSWAY_RAMP = "expressway_ramp", _("Expressway ramp")
    SCHOOL = "school", _("School")
    HOSPITAL = "hospital", _("Hospital")
    TALENT_HOUSING = "talent_housing", _("Talent housing")
    UNIVERSITY = "university", _("University")
    RD_CENTER = "rd_center", _("R&D centre")
    INCUBATOR = "incubator", _("Incubator")
    KEY_LAB = "key_lab", _("Key laboratory")
    PARK_GREEN = "park_green", _("Public park")
    SHOPPING = "shopping", _("Shopping centre")


@colors({"above": "#c62828", "below": "#546e7a"})
class EnterpriseScale(ColoredChoices):
    ABOVE = "above", _("Above designated size")
    BELOW = "below", _("Below designated size")


@colors(
    {
        "high_tech": "#d81b60",
        "srdi": "#8e24aa",
        "little_giant": "#5e35b1",
        "tech_sme": "#1e88e5",
        "listed": "#f9a825",
        "foreign": "#00897b",
    }
)
class Certification(ColoredChoices):
    HIGH_TECH = "high_tech", _("High-tech enterprise")
    SRDI = "srdi", _("Specialised and sophisticated SME")
    LITTLE_GIANT = "little_giant", _("Little giant")
    TECH_SME = "tech_sme", _("Tech-based SME")
    LISTED = "listed", _("Listed company")
    FOREIGN = "foreign", _("Foreign-invested")

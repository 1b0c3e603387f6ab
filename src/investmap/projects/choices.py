"""Enums of the project library, with their labels and colours (ARCHITECTURE example 5)."""

from django.utils.translation import gettext_lazy as _

from investmap.core.choices import ColoredChoices, colors


@colors(
    {
        "lead": "#90a4ae",
        "negotiating": "#4fc3f7",
        "signed": "#1e88e5",
        "registered": "#3949ab",
        "land_obtained": "#8e24aa",
        "construction": "#fb8c00",
        "completed": "#43a047",
        "production": "#1b5e20",
        "on_hold": "#fdd835",
        "dropped": "#757575",
    }
)
class Stage(ColoredChoices):
    LEAD = "lead", _("Lead")
    NEGOTIATING = "negotiating", _("Negotiating")
    SIGNED = "signed", _("Signed")
    REGISTERED = "registered", _("Registered")
    LAND_OBTAINED = "land_obtained", _("Land obtained")
    CONSTRUCTION = "construction", _("Under construction")
    COMPLETED = "completed", _("Completed")
    PRODUCTION = "production", _("In production")
    ON_HOLD = "on_hold", _("On hold")
    DROPPED = "dropped", _("Dropped")


@colors(
    {"new_land": "#6d4c41", "stock_space": "#00897b", "expansion": "#5e35b1", "hq_rd": "#c0ca33"}
)
class Category(ColoredChoices):
    NEW_LAND = "new_land", _("New land")
    STOCK_SPACE = "stock_space", _("Existing space")
    EXPANSION = "expansion", _("Expansion")
    HQ_RD = "hq_rd", _("Headquarters / R&D")


@colors({"major": "#c62828", "key": "#ef6c00", "general": "#546e7a"})
class Grade(ColoredChoices):
    MAJOR = "major", _("Major project")
    KEY = "key", _("Key project")
    GENERAL = "general", _("General project")


@colors(
    {
        "visit": "#1e88e5",
        "call": "#00acc1",
        "meeting": "#8e24aa",
        "note": "#757575",
        "created": "#43a047",
        "edit": "#9e9e9e",
        "stage": "#fb8c00",
        "document": "#6d4c41",
        "approval": "#c62828",
        "capital": "#2e7d32",
    }
)
class ActivityKind(ColoredChoices):
    VISIT = "visit", _("Visit")
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    NOTE = "note", _("Note")
    # Written by the system, shown on the same timeline; they reset the rot clock too.
    CREATED = "created", _("Created")
    EDIT = "edit", _("Edit")
    STAGE = "stage", _("Stage change")
    DOCUMENT = "document", _("Document")
    APPROVAL = "approval", _("Approval")
    CAPITAL = "capital", _("Capital arrived")


USER_ACTIVITY_KINDS = ("visit", "call", "meeting", "note")


@colors(
    {
        "contract": "#1e88e5",
        "agreement": "#3949ab",
        "license": "#43a047",
        "plan": "#fb8c00",
        "minutes": "#8e24aa",
        "photo": "#00acc1",
        "other": "#757575",
    }
)
class DocumentType(ColoredChoices):
    CONTRACT = "contract", _("Contract")
    AGREEMENT = "agreement", _("Supplementary agreement")
    LICENSE = "license", _("Licence / permit")
    PLAN = "plan", _("Plan / feasibility study")
    MINUTES = "minutes", _("Meeting minutes")
    PHOTO = "photo", _("Photo")
    OTHER = "other", _("Other")


@colors({"first": "#1e88e5", "increase": "#43a047", "new_investor": "#8e24aa"})
class SigningKind(ColoredChoices):
    FIRST = "first", _("First signing")
    INCREASE = "increase", _("Increase")
    NEW_INVESTOR = "new_investor", _("Change of investor")


@colors({"pending": "#fb8c00", "approved": "#43a047", "rejected": "#c62828"})
class ApprovalStatus(ColoredChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


@colors(
    {
        "stale": "#fb8c00",
        "milestones_out_of_order": "#c62828",
        "land_not_started": "#8e24aa",
        "signed_not_registered": "#1e88e5",
    }
)
class AlertType(ColoredChoices):
    STALE = "stale", _("No progress")
    MILESTONES_OUT_OF_ORDER = "milestones_out_of_order", _("Milestones out of order")
    LAND_NOT_STARTED = "land_not_started", _("Land obtained, construction not started")
    SIGNED_NOT_REGISTERED = "signed_not_registered", _("Signed, not registered")


@colors({"signing": "#1e88e5", "production": "#1b5e20"})
class CheckPhase(ColoredChoices):
    SIGNING = "signing", _("At signing (commitments)")
    PRODUCTION = "production", _("At production (actual figures)")

"""The project library (SPEC P1–P7): one record per investment project and its file.

Everything a person does to a project leaves a row: `Activity` is the timeline
(user entries and system entries alike; the rot clock reads it), `StageChange`
the moves, `SigningEvent` the signed amounts as counted (Sanming rules),
`CapitalArrival` the money that arrived, `Approval` the decisions,
`StandardCheck` the 标准地 checks, and django-simple-history the field edits.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from investmap.core.bases import Timestamped
from investmap.matching.models import CandidateList
from investmap.resources.models import Building, Enterprise, Parcel, Park, Team, Town

from .choices import (
    ActivityKind,
    ApprovalStatus,
    Category,
    CheckPhase,
    DocumentType,
    Grade,
    SigningKind,
    Stage,
)

# Milestone fields, one per stage after lead (lifecycle.MILESTONES).
MILESTONE_FIELDS = {
    "negotiating": "negotiating_on",
    "signed": "signed_on",
    "registered": "registered_on",
    "land_obtained": "land_obtained_on",
    "construction": "construction_on",
    "completed": "completed_on",
    "production": "production_on",
}


def _money(label):
    return models.FloatField(label, null=True, blank=True)


class Project(Timestamped):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, db_index=True)
    external_id = models.CharField(
        _("external id"), max_length=100, null=True, blank=True, unique=True
    )
    # Investor: an enterprise already in the library, or an outside company by name.
    investor = models.ForeignKey(
        Enterprise,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="projects",
        verbose_name=_("investor (enterprise)"),
    )
    investor_name = models.CharField(_("investor"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)  # sensitive
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)  # sensitive
    contact_email = models.CharField(_("contact e-mail"), max_length=100, blank=True)  # sensitive
    industry_code = models.CharField(
        _("industry code (GB/T 4754)"), max_length=5, blank=True, db_index=True
    )
    chain_node = models.CharField(_("industrial chain node"), max_length=100, blank=True)
    category = models.CharField(
        _("category"), max_length=16, choices=Category.choices, default=Category.NEW_LAND
    )
    total_investment_wan = _money(_("total investment (10k yuan)"))
    fixed_asset_investment_wan = _money(_("fixed-asset investment (10k yuan)"))
    foreign_investment_wan = _money(_("foreign investment (10k yuan)"))
    registered_capital_wan = _money(_("registered capital (10k yuan)"))
    expected_output_wan = _money(_("expected yearly output (10k yuan)"))
    expected_tax_wan = _money(_("expected yearly tax (10k yuan)"))
    expected_jobs = models.PositiveIntegerField(_("expected jobs"), null=True, blank=True)
    # Commitments checked against 标准地 at signing; actual figures at production.
    land_area_mu = models.FloatField(_("land area (mu)"), null=True, blank=True)
    expected_rd_share = models.FloatField(_("expected R&D share of revenue"), null=True, blank=True)
    expected_energy_tce_per_wan = models.FloatField(
        _("expected energy per value added (tce/10k yuan)"), null=True, blank=True
    )
    actual_investment_wan = _money(_("actual fixed-asset investment (10k yuan)"))
    actual_output_wan = _money(_("actual yearly output (10k yuan)"))
    actual_tax_wan = _money(_("actual yearly tax (10k yuan)"))
    actual_rd_share = models.FloatField(_("actual R&D share of revenue"), null=True, blank=True)
    actual_energy_tce_per_wan = models.FloatField(
        _("actual energy per value added (tce/10k yuan)"), null=True, blank=True
    )
    town = models.ForeignKey(
        Town,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="projects",
        verbose_name=_("town"),
    )
    park = models.ForeignKey(
        Park,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="projects",
        verbose_name=_("park"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="projects",
        verbose_name=_("team"),
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="projects",
        verbose_name=_("officer"),
    )
    strategic = models.BooleanField(_("strategic project"), default=False)
    grade = models.CharField(
        _("grade"), max_length=16, choices=Grade.choices, default=Grade.GENERAL, db_index=True
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    # Space: the saved matching demand with its candidates, and the site chosen.
    candidates = models.ForeignKey(
        CandidateList,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="projects",
        verbose_name=_("candidate sites"),
    )
    parcels = models.ManyToManyField(
        Parcel, blank=True, related_name="projects", verbose_name=_("parcels")
    )
    building = models.ForeignKey(
        Building,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="projects",
        verbose_name=_("building"),
    )
    stage = models.CharField(
        _("stage"), max_length=16, choices=Stage.choices, default=Stage.LEAD, db_index=True
    )
    held_from = models.CharField(
        _("stage before hold"), max_length=16, choices=Stage.choices, blank=True
    )
    drop_reason = models.TextField(_("reason dropped"), blank=True)
    lead_on = models.DateField(_("lead date"), null=True, blank=True)
    negotiating_on = models.DateField(_("negotiation date (洽谈)"), null=True, blank=True)
    signed_on = models.DateField(_("signing date (签约)"), null=True, blank=True, db_index=True)
    registered_on = models.DateField(_("registration date (注册)"), null=True, blank=True)
    land_obtained_on = models.DateField(_("land date (拿地)"), null=True, blank=True)
    construction_on = models.DateField(_("construction start (开工)"), null=True, blank=True)
    completed_on = models.DateField(_("completion date (竣工)"), null=True, blank=True)
    production_on = models.DateField(_("production date (投产)"), null=True, blank=True)
    # The rot clock: the latest day something happened (max of timeline dates ≤ today).
    last_touched_on = models.DateField(_("last activity"), null=True, blank=True, db_index=True)
    history = HistoricalRecords(m2m_fields=[parcels])

    class Meta:
        ordering = ["-updated_at", "code"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        indexes = [models.Index(fields=["town", "stage"]), models.Index(fields=["team", "stage"])]

    def __str__(self):
        return f"{self.code} {self.name}"

    def milestones(self) -> dict:
        return {stage: getattr(self, f) for stage, f in MILESTONE_FIELDS.items()}

    def org_unit_ids(self) -> list[int]:
        ids = []
        for rel in ("town", "park", "team"):
            obj = getattr(self, rel)
            if obj is not None:
                ids.append(obj.org_unit_id)
        return ids


class Activity(models.Model):
    """One entry of a project's timeline (visits, calls, meetings, notes, and system events)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="activities", verbose_name=_("project")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ActivityKind.choices)
    on = models.DateField(_("date"), db_index=True)
    text = models.TextField(_("text"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["-on", "-id"]
        indexes = [models.Index(fields=["project", "on"])]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self):
        return f"{self.on} {self.kind} {self.text[:40]}"


def _document_path(instance, filename):
    return f"projects/{instance.project.code}/{filename}"


class Document(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="documents", verbose_name=_("project")
    )
    doc_type = models.CharField(
        _("document type"), max_length=16, choices=DocumentType.choices, default="other"
    )
    title = models.CharField(_("title"), max_length=200)
    on = models.DateField(_("document date"))
    file = models.FileField(_("file"), upload_to=_document_path, max_length=300)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        ordering = ["-on", "-id"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self):
        return self.title


class StageChange(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="stage_changes", verbose_name=_("project")
    )
    from_stage = models.CharField(_("from"), max_length=16, choices=Stage.choices)
    to_stage = models.CharField(_("to"), max_length=16, choices=Stage.choices)
    on = models.DateField(_("date"), db_index=True)
    reason = models.TextField(_("reason"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")

    def __str__(self):
        return f"{self.on} {self.from_stage} → {self.to_stage}"


class SigningEvent(models.Model):
    """Signed investment as counted: the first signing, later increases, a new investor."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="signings", verbose_name=_("project")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=SigningKind.choices)
    on = models.DateField(_("date"), db_index=True)
    amount_wan = models.FloatField(_("amount counted (10k yuan)"))
    investor_name = models.CharField(_("investor"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]
        verbose_name = _("signing")
        verbose_name_plural = _("signings")

    def __str__(self):
        return f"{self.on} {self.kind} {self.amount_wan:g}"


class CapitalArrival(models.Model):
    """Money of the project that arrived (到位资金), counted in team performance."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="capital", verbose_name=_("project")
    )
    on = models.DateField(_("date"), db_index=True)
    amount_wan = models.FloatField(_("amount (10k yuan)"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]
        verbose_name = _("capital arrival")
        verbose_name_plural = _("capital arrivals")

    def __str__(self):
        return f"{self.on} {self.amount_wan:g}"


class Approval(models.Model):
    """A move that needs a bureau decision (signing or dropping a graded project)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="approvals", verbose_name=_("project")
    )
    to_stage = models.CharField(_("requested stage"), max_length=16, choices=Stage.choices)
    request = models.JSONField(_("request"))  # the transition body, replayed on approval
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ApprovalStatus.choices,
        default="pending",
        db_index=True,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")

    def __str__(self):
        return f"{self.to_stage} {self.status}"


class StandardCheck(models.Model):
    """A 标准地 check of the project's figures (commitments at signing, actuals at production)."""

    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="standard_checks",
        verbose_name=_("project"),
    )
    phase = models.CharField(_("phase"), max_length=16, choices=CheckPhase.choices)
    ruleset = models.CharField(_("ruleset"), max_length=80)
    passed = models.BooleanField(_("passed"), null=True)  # None: insufficient data
    items = models.JSONField(_("indicators"), default=list)
    on = models.DateField(_("date"))
    at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]
        verbose_name = _("standard-land check")
        verbose_name_plural = _("standard-land checks")

    def __str__(self):
        return f"{self.phase} {self.ruleset} {self.passed}"


class IdempotentRequest(models.Model):
    """The first response to a request with an Idempotency-Key, replayed on repeats."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    endpoint = models.CharField(max_length=100)
    body_sha256 = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="idempotency_key_once")
        ]

    def __str__(self):
        return f"{self.endpoint} {self.key}"


class AlertDelivery(models.Model):
    """An alert that was sent, so each alert reaches each channel once.

    `key` names the alert's occurrence: project, type and the date it counts
    from (a stale project touched again and stale again is a new alert)."""

    key = models.CharField(max_length=200)
    # inbox:<user id>, email:<user id>, wecom:<n>, dingtalk:<n>
    channel = models.CharField(max_length=32)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    alert_type = models.CharField(max_length=32)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "channel"], name="alert_once")]

    def __str__(self):
        return f"{self.key} {self.channel}"

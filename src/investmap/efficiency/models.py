"""Stored evaluations: ruleset versions, evaluation runs and one result per enterprise.

A ruleset version is immutable (its document and digest); an evaluation is one
run of one version over one year's inputs (their digest); its results are
never rewritten — a changed ruleset is a new version, changed inputs a new run.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from investmap.resources.models import Enterprise, Parcel, Park, Town

from .choices import Grade, ResultStatus


class RulesetVersion(models.Model):
    name = models.CharField(_("ruleset"), max_length=64)
    version = models.PositiveIntegerField(_("version"))
    digest = models.CharField(_("digest"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    document = models.JSONField(_("document"))
    text = models.TextField(_("YAML text"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        verbose_name = _("ruleset version")
        verbose_name_plural = _("ruleset versions")
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="ruleset_name_version"),
            models.UniqueConstraint(fields=["name", "digest"], name="ruleset_name_digest"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"


class Evaluation(models.Model):
    year = models.PositiveSmallIntegerField(_("year"), db_index=True)
    ruleset = models.ForeignKey(
        RulesetVersion,
        on_delete=models.PROTECT,
        related_name="evaluations",
        verbose_name=_("ruleset"),
    )
    inputs_digest = models.CharField(_("inputs digest"), max_length=64)
    inputs = models.PositiveIntegerField(_("enterprises with figures"))
    summary = models.JSONField(_("summary"), default=dict)
    took_ms = models.PositiveIntegerField(_("engine time (ms)"), default=0)
    created_at = models.DateTimeField(_("evaluated at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-year", "-created_at", "-id"]
        verbose_name = _("evaluation")
        verbose_name_plural = _("evaluations")
        constraints = [
            models.UniqueConstraint(
                fields=["year", "ruleset", "inputs_digest"], name="evaluation_year_ruleset_inputs"
            )
        ]

    def __str__(self):
        return f"{self.year} {self.ruleset}"


class EvaluationResult(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="results")
    enterprise = models.ForeignKey(
        Enterprise, null=True, on_delete=models.SET_NULL, related_name="evaluation_results"
    )
    credit_code = models.CharField(_("unified social credit code"), max_length=18)
    name = models.CharField(_("name"), max_length=200, blank=True)
    industry_code = models.CharField(_("industry code"), max_length=5, blank=True)
    town = models.ForeignKey(Town, null=True, on_delete=models.SET_NULL, related_name="+")
    park = models.ForeignKey(Park, null=True, on_delete=models.SET_NULL, related_name="+")
    parcel = models.ForeignKey(Parcel, null=True, on_delete=models.SET_NULL, related_name="+")
    population = models.CharField(_("population"), max_length=40)
    group = models.CharField(_("industry group"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=ResultStatus.choices)
    score = models.FloatField(_("score"), null=True)
    deduction = models.FloatField(_("deduction"), null=True)
    rank = models.PositiveIntegerField(_("rank"), null=True)
    population_size = models.PositiveIntegerField(_("ranked among"), null=True)
    grade = models.CharField(_("grade"), max_length=2, blank=True, choices=Grade.choices)
    indicator_values = models.JSONField(_("indicator values"), default=dict)
    indicator_scores = models.JSONField(_("indicator scores"), default=dict)
    filled = models.JSONField(_("scores given by the missing-data rule"), default=list)
    missing = models.JSONField(_("missing fields"), default=list)

    class Meta:
        ordering = ["evaluation_id", "credit_code"]
        verbose_name = _("evaluation result")
        verbose_name_plural = _("evaluation results")
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "credit_code"], name="result_evaluation_code"
            )
        ]
        indexes = [
            models.Index(fields=["evaluation", "grade"], name="result_eval_grade"),
            models.Index(fields=["enterprise", "evaluation"], name="result_ent_eval"),
        ]

    def __str__(self):
        return f"{self.credit_code} {self.grade or self.status}"


class LandStatusChange(models.Model):
    """A parcel status set from the efficiency findings, so it can be undone when they end."""

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="efficiency_changes")
    from_status = models.CharField(_("from"), max_length=20)
    to_status = models.CharField(_("to"), max_length=20)
    reasons = models.JSONField(_("reasons"), default=list)
    as_of = models.DateField(_("as of"))
    created_at = models.DateTimeField(_("applied at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reverted_at = models.DateTimeField(_("reverted at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("land status change")
        verbose_name_plural = _("land status changes")

    def __str__(self):
        return f"{self.parcel_id}: {self.from_status} → {self.to_status}"

"""The policy library (SPEC S1–S4): each policy a versioned document whose conditions are data.

`Policy` is the head (the current version's fields, for lists and search);
`PolicyVersion` keeps every document as imported, never rewritten; `PolicyMatch`
keeps the matches worth telling someone about (eligible pairs and near misses)
of the current version as of the day they were computed, so that pushes go
out once and the digest can list what is new.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from investmap.resources.models import Enterprise

from .choices import Level, MatchResult, PolicyType


class Policy(models.Model):
    code = models.CharField(_("code"), max_length=60, unique=True)
    title = models.CharField(_("title"), max_length=300)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices, db_index=True)
    policy_type = models.CharField(
        _("type"), max_length=16, choices=PolicyType.choices, db_index=True
    )
    issuer = models.CharField(_("issuing body"), max_length=200, blank=True, db_index=True)
    published_on = models.DateField(_("publication date"), null=True, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True, db_index=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True, db_index=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    industries = models.JSONField(_("industries"), default=list, blank=True)
    text = models.TextField(_("full text"), blank=True)
    interpretation = models.TextField(_("interpretation (解读)"), blank=True)
    source_url = models.URLField(_("source"), max_length=500, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    current = models.ForeignKey(
        "PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("current version"),
    )
    # Plain-text search document (title, text, interpretation, issuer, tags), lower-cased.
    search_text = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-published_on", "code"]
        verbose_name = _("policy")
        verbose_name_plural = _("policies")

    def __str__(self):
        return f"{self.code} {self.title}"


class PolicyVersion(models.Model):
    policy = models.ForeignKey(
        Policy, on_delete=models.CASCADE, related_name="versions", verbose_name=_("policy")
    )
    number = models.PositiveIntegerField(_("version"))
    document = models.JSONField(
        _("document")
    )  # the policy as imported (conditions, benefit, tests…)
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["policy_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_once")
        ]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")

    def __str__(self):
        return f"{self.policy.code} v{self.number}"


class PolicyMatch(models.Model):
    """An eligible pair or a near miss of a policy version, as computed on `as_of`."""

    version = models.ForeignKey(
        PolicyVersion,
        on_delete=models.CASCADE,
        related_name="matches",
        verbose_name=_("policy version"),
    )
    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="policy_matches",
        verbose_name=_("enterprise"),
    )
    result = models.CharField(_("result"), max_length=20, choices=MatchResult.choices)
    near_miss = models.BooleanField(_("near miss"), default=False)
    failed = models.JSONField(_("failed conditions"), default=list)
    unknown = models.JSONField(_("missing facts"), default=list)
    amount_wan = models.FloatField(_("estimated amount (10k yuan)"), null=True, blank=True)
    as_of = models.DateField(_("as of"))
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    notified = models.BooleanField(_("notified"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "enterprise"], name="policy_match_once")
        ]
        indexes = [models.Index(fields=["enterprise", "result"])]
        verbose_name = _("policy match")
        verbose_name_plural = _("policy matches")

    def __str__(self):
        return f"{self.version} {self.enterprise_id} {self.result}"

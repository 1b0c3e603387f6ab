"""Org tree, users and roles, API tokens, audit events."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import OrgKind, Role


class OrgUnit(models.Model):
    """A node of the org tree: district → town/park (or bureau, SOE) → team."""

    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=OrgKind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def ancestors_and_self(self) -> list["OrgUnit"]:
        chain, node = [], self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def descendant_ids(self) -> set[int]:
        """Ids of this unit and every unit below it (one query per level)."""
        ids, frontier = {self.pk}, [self.pk]
        while frontier:
            frontier = list(
                OrgUnit.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
            )
            ids.update(frontier)
        return ids


class User(AbstractUser):
    # No default role: a new account sees nothing until someone gives it a role.
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, blank=True, default="")
    org_unit = models.ForeignKey(
        OrgUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        verbose_name=_("org unit"),
    )
    # Who is told when this user's work needs attention (project alerts go to both).
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        verbose_name=_("manager"),
    )
    email_notifications = models.BooleanField(_("e-mail notifications"), default=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    PREFIX = "imt_"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user: User, name: str = "") -> tuple["ApiToken", str]:
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=raw[:12], digest=hash_token(raw))
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> User | None:
        token = (
            cls.objects.select_related("user")
            .filter(digest=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is None:
            return None
        cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user


class AuditEvent(models.Model):
    """Logins, exports, imports and sensitive reads (record edits are in history tables)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=32, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"


def audit(*, user, action: str, target: str = "", **detail) -> None:
    AuditEvent.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        target=target[:200],
        detail=detail,
    )


class Notification(models.Model):
    """An in-app inbox message. `key` makes a notification idempotent per user:
    senders (project alerts, policy matches) pass a key naming what it is about,
    and the same key is never delivered to the same user twice."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("user")
    )
    key = models.CharField(_("key"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, db_index=True)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notification_once")]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return f"{self.user_id} {self.title}"


def notify(*, user, key: str, kind: str, title: str, body: str = "", url: str = "") -> bool:
    """Put a message in the user's inbox once; False when `key` was already delivered."""
    _obj, created = Notification.objects.get_or_create(
        user=user,
        key=key[:200],
        defaults={"kind": kind, "title": title[:200], "body": body, "url": url},
    )
    return created


DEFAULT_DISTRICT_NAME = "示范区"


def district_name() -> str:
    """The setting if given, else the name of the org tree's root (the district)."""
    from django.conf import settings

    if settings.INVESTMAP_DISTRICT_NAME:
        return settings.INVESTMAP_DISTRICT_NAME
    root = OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True).order_by("pk").first()
    return root.name if root else DEFAULT_DISTRICT_NAME

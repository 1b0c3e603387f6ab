"""Login lockout and login audit (SPEC X1).

Failed and successful logins are AuditEvents. A username with
INVESTMAP_LOGIN_MAX_FAILURES failures within INVESTMAP_LOGIN_LOCK_MINUTES (and
no successful login since) is locked for the rest of that window. The count
lives in the database, so every web process enforces the same lock; the
backend enforces it for every login path (pages, admin), the form says why.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import AuditEvent, audit

LOGIN, LOGIN_FAILED = "login", "login_failed"


def _window() -> timedelta:
    return timedelta(minutes=settings.INVESTMAP_LOGIN_LOCK_MINUTES)


def locked_until(username: str):
    """When the lock on `username` ends, or None if it is not locked."""
    if not username:
        return None
    since = timezone.now() - _window()
    last_ok = (
        AuditEvent.objects.filter(action=LOGIN, target=username, at__gte=since)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    failures = AuditEvent.objects.filter(
        action=LOGIN_FAILED, target=username, at__gte=last_ok or since
    )
    if failures.count() < settings.INVESTMAP_LOGIN_MAX_FAILURES:
        return None
    first = failures.order_by("at").values_list("at", flat=True).first()
    return first + _window()


class LockoutBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if locked_until(username or kwargs.get("username", "")):
            raise PermissionDenied("account temporarily locked")  # stops every backend
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutAuthenticationForm(AuthenticationForm):
    def clean(self):
        until = locked_until(self.cleaned_data.get("username", ""))
        if until:
            minutes = max(1, int((until - timezone.now()).total_seconds() // 60) + 1)
            raise forms.ValidationError(
                _("Too many failed logins for this account. Try again in %(minutes)s minutes."),
                code="locked",
                params={"minutes": minutes},
            )
        return super().clean()


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs):
    audit(user=user, action=LOGIN, target=user.get_username())


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    audit(user=None, action=LOGIN_FAILED, target=str(credentials.get("username", ""))[:200])

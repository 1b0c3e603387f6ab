"""Views and view helpers shared by every app's pages.

`resource_access_required` guards a page of the resource library: anonymous
users go to the login page, signed-in users whose role has no business data
(the separated admin roles, enterprise users) get the 403 page, which explains
that their role has no access (templates/403.html).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .models import Notification
from .scope import request_scope


def resource_access_required(view):
    """Login required, and a role that sees the resource library (scope.sees_resources)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request_scope(request).sees_resources:
            raise PermissionDenied("no resource access")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@never_cache
def ping(request):
    """Liveness probe for load balancers and systemd: no login, no database."""
    return HttpResponse("ok", content_type="text/plain")


INBOX_SIZE = 200


@login_required
def inbox(request):
    """The user's in-app messages, newest first; opening the inbox marks them read
    (those unread until now are highlighted this time)."""
    items = list(Notification.objects.filter(user=request.user)[:INBOX_SIZE])
    unread = {n.pk for n in items if n.read_at is None}
    if unread:
        Notification.objects.filter(pk__in=unread, read_at__isnull=True).update(
            read_at=timezone.now()
        )
    return render(request, "core/inbox.html", {"items": items, "unread": unread})


@never_cache
@login_required
def inbox_count(request):
    """{"unread": n}: the number the top bar shows next to the inbox link."""
    n = Notification.objects.filter(user=request.user, read_at__isnull=True).count()
    return JsonResponse({"unread": n})

"""Views and view helpers shared by every app's pages.

`resource_access_required` guards a page of the resource library: anonymous
users go to the login page, signed-in users whose role has no business data
(the separated admin roles, enterprise users) get the 403 page, which explains
that their role has no access (templates/403.html).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.views.decorators.cache import never_cache

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

"""Who sees and edits which projects (decided on the server, for pages, API and exports).

* District leaders see every project, read-only.
* Bureau staff (and a superuser without a role) see and edit every project.
* Town / park officers and team members see and edit the projects of their own
  unit (the project's town, park or team lies inside their scope) and the
  projects they are the officer of.
* Data maintainers, the separated admins, enterprise users and users without a
  role see no projects.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from investmap.core.choices import Role
from investmap.core.scope import Scope

from .models import Project

EDIT_ALL = {Role.BUREAU_STAFF}


def sees_projects(scope: Scope) -> bool:
    if not scope.sees_resources:
        return False
    return scope.role != Role.DATA_MAINTAINER


def _own(scope: Scope) -> Q:
    ids = scope.sensitive_org_ids or frozenset()
    return (
        Q(town__org_unit_id__in=ids)
        | Q(park__org_unit_id__in=ids)
        | Q(team__org_unit_id__in=ids)
        | Q(officer_id=scope.user_id)
    )


def visible(scope: Scope, qs: QuerySet | None = None) -> QuerySet:
    """The projects this scope may read."""
    qs = Project.objects.all() if qs is None else qs
    if not sees_projects(scope):
        return qs.none()
    if scope.sensitive_org_ids is None:
        return qs
    return qs.filter(_own(scope))


def edits_all(scope: Scope) -> bool:
    return sees_projects(scope) and (
        scope.role in EDIT_ALL or (scope.role in ("", None) and scope.sensitive_org_ids is None)
    )


def can_edit(scope: Scope, project: Project) -> bool:
    if not sees_projects(scope):
        return False
    if edits_all(scope):
        return True
    if scope.role != Role.TOWN_OFFICER:
        return False
    if project.officer_id is not None and project.officer_id == scope.user_id:
        return True
    if scope.sensitive_org_ids is None:  # an officer of the district unit: sees all, edits own
        return False
    return any(i in scope.sensitive_org_ids for i in project.org_unit_ids())


def can_create(scope: Scope) -> bool:
    return sees_projects(scope) and (edits_all(scope) or scope.role == Role.TOWN_OFFICER)


def can_decide(scope: Scope) -> bool:
    """Approvals are decided by bureau staff (never on their own request: see services)."""
    return edits_all(scope)


def contacts_visible(scope: Scope, project: Project) -> bool:
    return scope.sensitive_visible(*project.org_unit_ids()) or (
        project.officer_id is not None and project.officer_id == scope.user_id
    )

"""Data scope: what a user may see and change, decided on the server.

One `Scope` per request, built from the user's role and org unit. Lists, map
layers, API calls and exports all ask it; nothing is filtered only in a page.

Rules (SPEC "Users"):
* public resources (towns, parks, parcels, buildings, POIs, enterprise
  profiles, teams) are visible to every business role;
* sensitive fields (contacts, tax figures, team members' phones) are unmasked
  only for district leaders and bureau staff (whole district) and for town /
  park officers inside their own unit and the units below it;
* the three separated admin roles and enterprise users see no business data,
  even when they are Django superusers; a user without a role sees nothing
  (a superuser without a role acts as bureau staff).

A team member's unit is widened to the town, park or district the team belongs
to, since records belong to those units, not to teams (docs/adr/0002).
"""

from dataclasses import dataclass, field

from .choices import OrgKind, Role

BUSINESS_ROLES = {Role.DISTRICT_LEADER, Role.BUREAU_STAFF, Role.TOWN_OFFICER, Role.DATA_MAINTAINER}
NO_DATA_ROLES = {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN, Role.ENTERPRISE}
SPATIAL_KINDS = {"towns", "parks", "parcels", "buildings", "pois", "land-grants"}
ALL_KINDS = SPATIAL_KINDS | {"enterprises", "indicators", "teams"}


@dataclass(frozen=True)
class Scope:
    user_id: int | None
    role: str | None
    sees_resources: bool = False
    # None: every unit; otherwise the org-unit ids whose sensitive data is visible.
    sensitive_org_ids: frozenset[int] | None = frozenset()
    editable_kinds: frozenset[str] = field(default_factory=frozenset)

    @property
    def sees_all_sensitive(self) -> bool:
        return self.sees_resources and self.sensitive_org_ids is None

    def sensitive_visible(self, *org_unit_ids: int | None) -> bool:
        """True when any of the record's owning units is inside the user's scope."""
        if not self.sees_resources:
            return False
        if self.sensitive_org_ids is None:
            return True
        return any(i in self.sensitive_org_ids for i in org_unit_ids if i is not None)

    def can_edit(self, kind: str) -> bool:
        return kind in self.editable_kinds

    can_import = can_edit


NOBODY = Scope(user_id=None, role=None)

# The command line is an operator's tool (like `investmap import`): the whole district,
# allowed to run evaluations and jobs, unless a command's --user names whose scope to use.
OPERATOR = Scope(
    user_id=None,
    role="operator",
    sees_resources=True,
    sensitive_org_ids=None,
    editable_kinds=frozenset({"indicators", "parcels"}),
)


def scope_root(unit):
    """The unit whose subtree bounds a user's scope (teams widen to their parent unit)."""
    while unit is not None and unit.kind == OrgKind.TEAM and unit.parent_id:
        unit = unit.parent
    return unit


def scope_for(user) -> Scope:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOBODY
    role = user.role
    if role in NO_DATA_ROLES:
        # Checked before is_superuser: the separated admins (等保 三员分立) see no
        # business data even when they administer the system as Django superusers.
        return Scope(user_id=user.pk, role=role)
    if user.is_superuser:
        return Scope(user.pk, role, True, None, frozenset(ALL_KINDS))
    if role == Role.DISTRICT_LEADER:
        return Scope(user.pk, role, True, None, frozenset())
    if role == Role.BUREAU_STAFF:
        return Scope(user.pk, role, True, None, frozenset(ALL_KINDS))
    if role == Role.DATA_MAINTAINER:
        return Scope(user.pk, role, True, frozenset(), frozenset(SPATIAL_KINDS))
    if role == Role.TOWN_OFFICER:
        root = scope_root(user.org_unit)
        if root is None:
            return Scope(user.pk, role, True, frozenset(), frozenset())
        if root.kind == OrgKind.DISTRICT:
            return Scope(user.pk, role, True, None, frozenset())
        return Scope(user.pk, role, True, frozenset(root.descendant_ids()), frozenset())
    return Scope(user_id=user.pk, role=role)


def request_scope(request) -> Scope:
    """The scope of a request, computed once and cached on it."""
    cached = getattr(request, "_investmap_scope", None)
    if cached is None:
        cached = scope_for(getattr(request, "user", None))
        request._investmap_scope = cached
    return cached


def mask_text(value: str | None, keep_start: int = 1, keep_end: int = 0) -> str | None:
    """Mask a sensitive string: '张三丰' → '张**', '13812345678' → '138****5678'."""
    if value in (None, ""):
        return value
    s = str(value)
    if s.isdigit() and len(s) >= 7:
        keep_start, keep_end = 3, 4
    if len(s) <= keep_start + keep_end:
        return "*" * len(s)
    return (
        s[:keep_start]
        + "*" * (len(s) - keep_start - keep_end)
        + (s[-keep_end:] if keep_end else "")
    )

"""Who may do what: one table, route (method + path template) -> roles, and one dependency.

Every route of the app is either on the short ``PUBLIC`` allow-list (no key: health, the
signed Twilio webhooks, the unsubscribe page, one-click action links, the OpenAPI docs, the
definitions' JSON Schema) or in ``ACCESS`` with the roles allowed to call it. ``authorize`` is installed once, on the app, and
decides from the table; ``check_routes`` runs in ``create_app`` so an app with a route that is in
neither list (or a stale table entry) refuses to build. The README's "Who may do what" table is
``markdown_table()``; a test keeps the two equal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from sqlmodel import Session

from api.deps import Principal, SettingsDep, get_principal
from api.schemas.common import MAX_ID
from followthrough.errors import Forbidden, NotFound
from followthrough.models.vocab import Role
from followthrough.store import contacts, leads, scope

Key = tuple[str, str]  # (HTTP method, path template)

ADMIN = frozenset({Role.ADMIN})
STAFF = frozenset({Role.ADMIN, Role.MANAGER})
EVERYONE = frozenset({Role.ADMIN, Role.MANAGER, Role.REP})

#: Routes served without a key. Each one protects itself or shows nothing private: the Twilio
#: webhooks check ``X-Twilio-Signature``, the preference page and the one-click action links their
#: signed tokens (an action link is also single-use and expires).
PUBLIC: frozenset[Key] = frozenset({
    ("GET", "/healthz"),
    ("POST", "/v1/webhooks/twilio/sms"),
    ("POST", "/v1/webhooks/twilio/status"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("GET", "/a/{token}"),
    ("POST", "/a/{token}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/v1/definitions/schema"),
})

#: Route -> roles allowed. Reps work their contacts (create, read, update, enroll, events,
#: holds, preferences) and read runs; what changes how the engine behaves for everyone
#: (definitions, templates, calendars, policy, suppressions, users), cancels others' work, or
#: reads across all contacts (the ledger, inbound, the outbox) is for managers or admins.
ACCESS: dict[Key, frozenset[Role]] = {
    ("POST", "/v1/contacts"): EVERYONE,
    ("GET", "/v1/contacts"): EVERYONE,
    ("GET", "/v1/contacts/{contact_id}"): EVERYONE,
    ("PATCH", "/v1/contacts/{contact_id}"): EVERYONE,
    ("PUT", "/v1/contacts/by-external-id/{external_id}"): EVERYONE,
    ("GET", "/v1/contacts/{contact_id}/timeline"): EVERYONE,
    ("GET", "/v1/contacts/{contact_id}/preferences"): EVERYONE,
    ("PATCH", "/v1/contacts/{contact_id}/preferences"): EVERYONE,
    ("POST", "/v1/contacts/{contact_id}/holds"): EVERYONE,
    ("GET", "/v1/contacts/{contact_id}/holds"): EVERYONE,
    ("DELETE", "/v1/contacts/{contact_id}/holds/{hold_id}"): EVERYONE,
    ("POST", "/v1/contacts/{contact_id}/events"): EVERYONE,
    ("POST", "/v1/sequences/{name}/enrollments"): EVERYONE,
    ("POST", "/v1/sequences/{name}/enrollments/batch"): EVERYONE,
    ("GET", "/v1/runs"): EVERYONE,
    ("GET", "/v1/runs/{run_id}"): EVERYONE,
    ("POST", "/v1/runs/{run_id}/cancel"): STAFF,
    ("GET", "/v1/policy"): EVERYONE,
    ("PUT", "/v1/policy"): ADMIN,
    ("GET", "/v1/deliveries"): STAFF,
    ("GET", "/v1/inbound"): STAFF,
    ("POST", "/v1/webhooks/email/inbound"): STAFF,
    ("GET", "/v1/outbox"): STAFF,
    ("GET", "/v1/suppressions"): STAFF,
    ("POST", "/v1/suppressions"): STAFF,
    ("DELETE", "/v1/suppressions/{suppression_id}"): STAFF,
    ("GET", "/v1/templates"): STAFF,
    ("PUT", "/v1/templates/{channel}/{name}/{locale}"): STAFF,
    ("GET", "/v1/templates/{channel}/{name}/{locale}"): STAFF,
    ("POST", "/v1/templates/{channel}/{name}/{locale}/preview"): STAFF,
    ("GET", "/v1/calendars"): STAFF,
    ("PUT", "/v1/calendars/{name}"): STAFF,
    ("GET", "/v1/calendars/{name}"): STAFF,
    ("DELETE", "/v1/calendars/{name}"): STAFF,
    ("POST", "/v1/definitions"): STAFF,
    ("GET", "/v1/definitions"): STAFF,
    ("GET", "/v1/definitions/{name}"): STAFF,
    ("GET", "/v1/definitions/{name}/versions"): STAFF,
    ("GET", "/v1/definitions/{name}/diff"): STAFF,
    ("POST", "/v1/definitions/{name}/publish"): STAFF,
    ("POST", "/v1/definitions/{name}/preview"): STAFF,
    # Reps act on their own tasks only (another's is a 404); staff on all.
    ("POST", "/v1/tasks"): EVERYONE,
    ("GET", "/v1/tasks"): EVERYONE,
    ("GET", "/v1/tasks/{task_id}"): EVERYONE,
    ("POST", "/v1/tasks/{task_id}/complete"): EVERYONE,
    ("POST", "/v1/tasks/{task_id}/snooze"): EVERYONE,
    ("POST", "/v1/tasks/{task_id}/reschedule"): EVERYONE,
    ("POST", "/v1/tasks/{task_id}/reassign"): EVERYONE,
    ("POST", "/v1/tasks/{task_id}/cancel"): EVERYONE,
    # Agents work their teams' tickets and those assigned to them, managers their teams',
    # admins all (any other ticket is a 404: followthrough/store/scope.py).
    ("POST", "/v1/tickets"): EVERYONE,
    ("GET", "/v1/tickets"): EVERYONE,
    ("GET", "/v1/tickets/{ticket_id}"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/responses"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/assign"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/priority"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/hold"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/status"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/resolve"): EVERYONE,
    ("POST", "/v1/tickets/{ticket_id}/reopen"): EVERYONE,
    ("POST", "/v1/users"): ADMIN,
    ("GET", "/v1/users"): ADMIN,
    ("GET", "/v1/users/{user_id}"): EVERYONE,
    ("PATCH", "/v1/users/{user_id}"): EVERYONE,
    ("POST", "/v1/users/{user_id}/absences"): EVERYONE,
    ("GET", "/v1/users/{user_id}/absences"): EVERYONE,
    ("DELETE", "/v1/users/{user_id}/absences/{absence_id}"): EVERYONE,
    # Reps work their own leads, managers their teams' (another's is a 404).
    ("POST", "/v1/leads"): EVERYONE,
    ("PUT", "/v1/leads/by-external-id/{lead_external_id}"): EVERYONE,
    ("GET", "/v1/leads"): EVERYONE,
    ("GET", "/v1/leads/{lead_id}"): EVERYONE,
    ("POST", "/v1/leads/{lead_id}/contacted"): EVERYONE,
    ("POST", "/v1/leads/{lead_id}/convert"): EVERYONE,
    ("POST", "/v1/leads/{lead_id}/disqualify"): EVERYONE,
    ("POST", "/v1/leads/{lead_id}/close"): EVERYONE,
    ("POST", "/v1/leads/{lead_id}/reassign"): EVERYONE,
    ("PUT", "/v1/teams/{name}"): ADMIN,
    ("GET", "/v1/teams/{name}"): EVERYONE,
    ("GET", "/v1/teams"): EVERYONE,
    # Figures over many reps' leads: managers (their teams') and admins.
    ("GET", "/v1/reports/leads"): STAFF,
    ("GET", "/v1/reports/sla"): STAFF,
}

#: Path parameters that name a contact's object (or a lead): ``authorize`` answers 404 when the caller may
#: not see it (GET) or change it (any other method), before the handler runs. A route with
#: such a parameter is checked here and cannot forget it. (Lists filter in their store query;
#: enrollments, whose contact is in the body, check it in their handler.)
OBJECT_PARAMS = ("contact_id", "run_id", "external_id", "lead_id", "lead_external_id")

_ROLE_ORDER = (Role.ADMIN, Role.MANAGER, Role.REP)


def _needs(roles: frozenset[Role]) -> str:
    names = [role.value for role in _ROLE_ORDER if role in roles]
    return " or ".join(names)


def authorize(request: Request, settings: SettingsDep) -> Principal | None:
    """Authenticate and check the role for the matched route, from the table; fail closed.

    Installed once as an app dependency, so it runs before any handler dependency. The
    principal is kept on ``request.state`` for handlers that need its identity (``PrincipalDep``).
    """
    route = request.scope.get("route")
    key = (request.method, getattr(route, "path_format", ""))
    if key in PUBLIC:
        return None
    roles = ACCESS.get(key)
    if roles is None:  # check_routes makes this unreachable; if not, nobody gets in
        raise Forbidden("This route has no access rule.")
    principal = get_principal(request, settings)
    if principal.role not in roles:
        raise Forbidden(f"This needs an {_needs(roles)} API key.")
    request.state.principal = principal
    with Session(request.app.state.engine) as session:
        access = scope.access_for(session, principal.role, principal.user_id,
                                  rep_scope=settings.rep_scope, manager_scope=settings.manager_scope)
        request.state.access = access
        _check_objects(session, request, access)
    return principal


def _check_objects(session: Session, request: Request, access: scope.Access) -> None:
    """404 for a contact (or its run) named in the path that the caller may not see or change."""
    _check_lead(session, request, access)
    seen = access.read if request.method in ("GET", "HEAD") else access.write
    if seen.everything:
        return
    params = request.path_params
    contact_id = _row_id(params.get("contact_id"))
    if contact_id is not None:
        seen.contact(session, contact_id)
    run_id = params.get("run_id")
    if isinstance(run_id, str) and 0 < len(run_id) <= 40:
        seen.run(session, run_id)
    external_id = params.get("external_id")
    if isinstance(external_id, str) and external_id:
        existing = contacts.by_external_id(session, external_id)
        if existing is not None and not seen.allows_owner(existing.owner_id):
            raise NotFound(f"contact with external_id '{external_id}' does not exist")


def _check_lead(session: Session, request: Request, access: scope.Access) -> None:
    """404 for a lead the caller may not see (GET) or change: a rep's own, a manager's team's."""
    write = request.method not in ("GET", "HEAD")
    lead_id = _row_id(request.path_params.get("lead_id"))
    if lead_id is not None:
        leads.visible(session, access, lead_id, write=write)
    external_id = request.path_params.get("lead_external_id")
    if isinstance(external_id, str) and external_id:
        existing = leads.by_external_id(session, external_id)
        if existing is not None and existing.id is not None:
            leads.visible(session, access, existing.id, write=write)


def _row_id(value: object) -> int | None:
    """A path id as an integer; None when it is not one (the route's own validation says so)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
        return number if 1 <= number <= MAX_ID else None
    return None


def route_keys(app: FastAPI) -> list[tuple[Key, object]]:
    """Every (method, path) the app serves with its route (HEAD, served with GET, left out)."""
    keys: list[tuple[Key, object]] = []
    for context in iter_route_contexts(app.routes):
        for method in sorted((context.methods or set()) - {"HEAD"}):
            keys.append(((method, str(context.path_format)), context))
    return keys


def guarded(context: object) -> bool:
    """True when ``authorize`` is among the route's dependencies."""
    dependant = getattr(context, "dependant", None)
    if dependant is None:
        return False
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call is authorize:
            return True
        stack.extend(current.dependencies)
    return False


def check_routes(app: FastAPI) -> None:
    """Refuse an app whose routes and table disagree: a route in neither ``ACCESS`` nor
    ``PUBLIC``, a table entry with no route, or a protected route without ``authorize``."""
    problems: list[str] = []
    served: set[Key] = set()
    for key, context in route_keys(app):
        served.add(key)
        original = getattr(context, "original_route", context)
        if key in PUBLIC:
            continue
        if key not in ACCESS:
            problems.append(f"{key[0]} {key[1]} has no entry in api.access.ACCESS")
        elif not isinstance(original, APIRoute) or not guarded(context):
            problems.append(f"{key[0]} {key[1]} is not guarded by api.access.authorize")
        elif original.path_format != key[1]:
            # authorize looks the route up by its own path: routers carry their full prefix.
            problems.append(f"{key[0]} {key[1]} is included under a prefix")
    problems += [f"{m} {p} is in api.access.ACCESS but not served" for m, p in ACCESS.keys() - served]
    if problems:
        raise RuntimeError("Access table and routes disagree: " + "; ".join(sorted(problems)))


def markdown_table(access: dict[Key, frozenset[Role]] | None = None,
                   public: Iterable[Key] | None = None) -> str:
    """The README's "Who may do what" table, one line per route, public routes last."""
    access = ACCESS if access is None else access
    public = PUBLIC if public is None else public
    lines = ["| method | path | admin | manager | rep |", "|---|---|---|---|---|"]
    for method, path in sorted(access, key=lambda k: (k[1], k[0])):
        marks = ["yes" if role in access[(method, path)] else "no" for role in _ROLE_ORDER]
        lines.append(f"| {method} | `{path}` | " + " | ".join(marks) + " |")
    for method, path in sorted(public, key=lambda k: (k[1], k[0])):
        lines.append(f"| {method} | `{path}` | no key | no key | no key |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m api.access: print the table for the README
    sys.stdout.write(markdown_table())

"""The REST API under /api/v1 (django-ninja). Each app contributes a router."""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyCookie, HttpBearer

from investmap.core.models import ApiToken


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.authenticate(token)
        if user is not None:
            request.user = user
        return user


class SessionCookie(APIKeyCookie):
    """The browser session (CSRF-checked for unsafe methods)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None


class Utf8JSONRenderer(JSONRenderer):
    """JSON with Chinese text as UTF-8, not \\u escapes (readable in curl and logs)."""

    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="InvestMap API",
    version="1",
    description="The resource library of the InvestMap platform: places, buildings, POIs, enterprises, teams.",
    renderer=Utf8JSONRenderer(),
    auth=[BearerToken(), SessionCookie()],
    urls_namespace="api",
    docs_url="/docs",
)


class ApiError(HttpError):
    """An error with a stable machine code, e.g. ApiError(404, 'not_found', msg)."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(status, message)
        self.code = code
        self.extra = extra


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return api.create_response(
        request, {"code": exc.code, "message": str(exc), **exc.extra}, status=exc.status_code
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid",
}


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    """Other HTTP errors (e.g. ninja's CSRF refusal) in the same {code, message} shape."""
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = str(exc)
    if exc.status_code == 403 and "CSRF" in message:
        message = _(
            "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value, or use an API token."
        )
    return api.create_response(request, {"code": code, "message": message}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return api.create_response(
        request,
        {
            "code": "unauthorized",
            "message": _(
                "Authentication required: log in or send 'Authorization: Bearer <token>'."
            ),
        },
        status=401,
    )


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    return api.create_response(
        request,
        {"code": "invalid", "message": _("The request is not valid."), "errors": exc.errors},
        status=422,
    )


def _register_routers():
    from investmap.efficiency.api import router as efficiency_router
    from investmap.matching.api import router as matching_router
    from investmap.policies.api import router as policies_router
    from investmap.projects.api import router as projects_router
    from investmap.resources.api import router as resources_router

    # Matching first: its fixed paths (/match/sites) must win over /{kind}/{code}.
    api.add_router("/", matching_router)
    api.add_router("/", efficiency_router)
    api.add_router("/", projects_router)
    api.add_router("/", policies_router)
    api.add_router("/", resources_router)


_register_routers()

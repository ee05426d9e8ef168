"""Who may do what: API keys with a scope, and the rules of production settings.

With settings.REQUIRE_CREDENTIALS on (the production default, docs/production.md
"Access") every endpoint except the probes (`/healthz`, `/readyz`) and the
docs (`/openapi.json`, `/docs`, `/redoc`) needs a credential:

- an API key created in the admin or with
  `manage.py create_api_key NAME --scope read|write` (`access.models.ApiKey`:
  only its hash is stored; it may expire and be revoked, and either takes
  effect at the next request, no restart). A read key reads; a write key
  reads and writes;
- a bootstrap key from the `API_KEYS` environment variable (a write key, for
  the first deployment, before anyone has logged in to the admin);
- a DRF token of a Django user (`manage.py drf_create_token <username>`);
- a staff login (the browsable API, the admin, the status page).

`PUBLIC_READS=1` opens the data API's reads to anonymous clients. Keys are
sent as `Authorization: Bearer <key>` (or `Token <key>`, or the library's
own `Api-Key <key>`). `/metrics` has its own token (betreco.metrics).
"""

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from access.models import ApiKey

KEYWORDS = ("bearer", "token", "api-key")


class ApiKeyClient:
    """The caller behind an API key: authenticated, and no Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, name: str = "API_KEYS", *, may_write: bool = True):
        self.name = name
        self.may_write = may_write

    def __str__(self) -> str:
        return f"api-key client ({self.name})"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Accept `Authorization: Bearer <key>` (or `Token`, `Api-Key`) for a stored or configured key.

    A stored key that has expired or been revoked is refused with a message
    saying so. A `Token` value that is no API key is left to DRF's
    TokenAuthentication (it may be a user's token); any other unknown value
    is refused here.
    """

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        keyword = parts[0].decode("latin-1").lower()
        key = parts[1].decode("latin-1")
        if _is_bootstrap_key(key):
            return (ApiKeyClient(), key)
        stored = _stored_key(key)
        if stored is not None:
            return (ApiKeyClient(stored.name, may_write=stored.may_write), stored)
        if keyword != "token":
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return None

    def authenticate_header(self, request) -> str:
        # Makes an unauthenticated write answer 401 (with this challenge), not 403.
        return 'Bearer realm="api"'


def _is_bootstrap_key(candidate: str) -> bool:
    """Constant-time comparison against every key in settings.API_KEYS."""
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500 for "Bearer é").
    given = candidate.encode()
    matches = [hmac.compare_digest(given, key.encode()) for key in settings.API_KEYS if key]
    return any(matches)


def _stored_key(candidate: str):
    """The usable ApiKey row whose hash `candidate` matches; None when none does.

    Raises AuthenticationFailed, naming the key, for one that matches but has
    expired or been revoked: its holder needs to know why, not just "invalid".
    """
    prefix, dot, _ = candidate.partition(".")
    if not dot:
        return None
    stored = ApiKey.objects.filter(prefix=prefix).first()
    if stored is None or not stored.is_valid(candidate):
        return None
    if stored.revoked:
        raise exceptions.AuthenticationFailed(
            f"API key '{stored.name}' has been revoked; ask for a new one."
        )
    if stored.has_expired:
        raise exceptions.AuthenticationFailed(
            f"API key '{stored.name}' expired at {stored.expiry_date.isoformat()}; "
            "ask for a new one."
        )
    return stored


HOW_TO_AUTHENTICATE = (
    "send 'Authorization: Bearer <key>' with an API key (created in the admin or with "
    "'manage.py create_api_key NAME --scope read|write', or one from API_KEYS), "
    "'Authorization: Token <token>' with a user's DRF token, or log in as staff at /admin/login/."
)


def is_credential(request) -> bool:
    """Whether the caller of this DRF request holds a credential this service honours.

    An API key or a DRF token, or a session of a staff user: a login of any
    other user (DRF's login page takes every active one) is no credential.
    """
    caller = request.user
    if not (caller and caller.is_authenticated):
        return False
    if isinstance(caller, ApiKeyClient):
        return True
    if isinstance(request.successful_authenticator, authentication.TokenAuthentication):
        return True
    return bool(caller.is_staff)


def may_write(request) -> bool:
    """A credential that may write: anything but a read key."""
    return getattr(request.user, "may_write", True)


class ScopedAccess(permissions.BasePermission):
    """The data API and the producer endpoints: who may read, who may write.

    Everything is open when settings.REQUIRE_CREDENTIALS is off (DEBUG, `make
    run`). Otherwise reads need a credential (or PUBLIC_READS) and writes one
    that may write: no credential answers 401 with the scheme's challenge, a
    read key's write 403.
    """

    def has_permission(self, request, view) -> bool:
        if not settings.REQUIRE_CREDENTIALS:
            return True
        reading = request.method in permissions.SAFE_METHODS
        if reading and settings.PUBLIC_READS:
            return True
        _require_credential(request, "Reads" if reading else "Writes")
        if not reading and not may_write(request):
            raise exceptions.PermissionDenied(
                f"{request.user} holds a read key: writes need a write key "
                "('manage.py create_api_key NAME --scope write', or one from API_KEYS)."
            )
        return True


class OperatorAccess(permissions.BasePermission):
    """The status page and its figures: a staff login or a key (any scope) in production."""

    def has_permission(self, request, view) -> bool:
        if settings.REQUIRE_CREDENTIALS:
            _require_credential(request, "The status figures")
        return True


def _require_credential(request, what: str) -> None:
    if is_credential(request):
        return
    if request.user and request.user.is_authenticated:
        raise exceptions.PermissionDenied(
            f"{what} need a staff login or a key: {request.user} is neither."
        )
    # Answered as 401 with the scheme's challenge, and this message saying how.
    raise exceptions.NotAuthenticated(f"{what} need a credential: {HOW_TO_AUTHENTICATE}")


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents ApiKeyAuthentication in /openapi.json as an HTTP bearer scheme."""

    target_class = "betreco.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (admin, `create_api_key`, or API_KEYS).",
        }

"""Who may write: API keys, and the "reads open, writes need a token" rule.

Production settings require a token for every write (docs/production.md,
"API keys"): the data API's POSTs and the producer endpoints. A token is
one of:

- an API key created in the admin or with `manage.py create_api_key NAME`
  (djangorestframework-api-key: only its hash is stored; it may expire and
  be revoked, and either takes effect at the next request, no restart);
- a bootstrap key from the `API_KEYS` environment variable (for the first
  deployment, before anyone has logged in to the admin);
- a DRF token of a Django user (`manage.py drf_create_token <username>`).

Keys are sent as `Authorization: Bearer <key>` (or `Token <key>`, or the
library's own `Api-Key <key>`). Reads, recommendations included, stay open
as in the seed.
"""

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework_api_key.models import APIKey

KEYWORDS = ("bearer", "token", "api-key")


class ApiKeyClient:
    """The caller behind an API key: authenticated, and no Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, name: str = "API_KEYS"):
        self.name = name

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
            return (ApiKeyClient(stored.name), stored)
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
    """The usable APIKey row whose hash `candidate` matches; None when none does.

    Raises AuthenticationFailed, naming the key, for one that matches but has
    expired or been revoked: its holder needs to know why, not just "invalid".
    """
    prefix, dot, _ = candidate.partition(".")
    if not dot:
        return None
    stored = APIKey.objects.filter(prefix=prefix).first()
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


class ReadOpenWritesNeedToken(permissions.BasePermission):
    """Safe methods for everyone; other methods need an authenticated caller
    when settings.REQUIRE_WRITE_TOKEN is on (the production default)."""

    message = (
        "Writes need a token: send 'Authorization: Bearer <key>' with an API key (created "
        "in the admin or with 'manage.py create_api_key NAME', or one from API_KEYS), "
        "or 'Authorization: Token <token>' with a user's DRF token."
    )

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS or not settings.REQUIRE_WRITE_TOKEN:
            return True
        if request.user and request.user.is_authenticated:
            return True
        # Answered as 401 with the scheme's challenge, and this message saying how.
        raise exceptions.NotAuthenticated(self.message)


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

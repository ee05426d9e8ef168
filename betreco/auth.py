"""Who may write: API keys from the environment, and the "reads open, writes need a token" rule.

Production settings (SPEC §4, §8) require a token for every write: the data
API's POSTs and the producer endpoints. A token is either one of the keys in
`API_KEYS` (for machines: the platform that streams records in), sent as
`Authorization: Bearer <key>` or `Authorization: Token <key>`, or a DRF
token of a Django user (`manage.py drf_create_token <username>`). Reads,
recommendations included, stay open as in the seed.
"""

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

KEYWORDS = ("bearer", "token")


class ApiKeyClient:
    """The caller behind a configured API key: authenticated, and no Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __str__(self) -> str:
        return "api-key client"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Accept `Authorization: Bearer <key>` or `Token <key>` for a key in settings.API_KEYS.

    A `Token` value that is no API key is left to DRF's TokenAuthentication
    (it may be a user's token); an unknown `Bearer` value is refused here.
    """

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        keyword = parts[0].decode("latin-1").lower()
        key = parts[1].decode("latin-1")
        if _is_api_key(key):
            return (ApiKeyClient(), key)
        if keyword == "bearer":
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return None

    def authenticate_header(self, request) -> str:
        # Makes an unauthenticated write answer 401 (with this challenge), not 403.
        return 'Bearer realm="api"'


def _is_api_key(candidate: str) -> bool:
    """Constant-time comparison against every configured key."""
    matches = [hmac.compare_digest(candidate, key) for key in settings.API_KEYS if key]
    return any(matches)


class ReadOpenWritesNeedToken(permissions.BasePermission):
    """Safe methods for everyone; other methods need an authenticated caller
    when settings.REQUIRE_WRITE_TOKEN is on (the production default)."""

    message = (
        "Writes need a token: send 'Authorization: Bearer <key>' with a key from API_KEYS, "
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
        return {"type": "http", "scheme": "bearer", "description": "A key from API_KEYS."}

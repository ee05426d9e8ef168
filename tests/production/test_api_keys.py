"""API keys stored in the database (access.ApiKey, read or write scope) beside API_KEYS.

Production mode (REQUIRE_CREDENTIALS on) is set with override_settings, as
in test_settings.py: what is tested is read at request time.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from access.models import ApiKey, Scope
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("production_mode")]

BOOTSTRAP_KEY = "bootstrap-key-0123456789"
USER = {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}


@pytest.fixture
def production_mode():
    with override_settings(REQUIRE_CREDENTIALS=True, PUBLIC_READS=False, API_KEYS=[BOOTSTRAP_KEY]):
        yield


def write(api_client, key, scheme="Bearer"):
    api_client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return api_client.post("/users", USER, format="json")


def read(api_client, key, path="/users"):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api_client.get(path)


def write_key(**fields) -> tuple[ApiKey, str]:
    return ApiKey.objects.create_key(name=fields.pop("name", "platform"), scope="write", **fields)


def create_api_key(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "Api-Key"])
def test_a_key_created_through_the_model_may_write(api_client, scheme):
    _, key = write_key()
    response = write(api_client, key, scheme)
    assert response.status_code == 201
    assert api_client.get(f"/users/{response.json()['id']}").status_code == 200


def test_only_the_keys_hash_is_stored():
    api_key, key = write_key()
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert key not in (stored.pk, stored.hashed_key)
    assert stored.hashed_key.startswith("sha512$$")


def test_a_revoked_key_is_refused_with_a_message_at_the_next_request(api_client):
    api_key, key = write_key(name="old-platform")
    assert write(api_client, key).status_code == 201
    api_key.revoked = True
    api_key.save()
    response = write(api_client, key)
    assert response.status_code == 401
    assert (
        response.json()["detail"] == "API key 'old-platform' has been revoked; ask for a new one."
    )


def test_an_expired_key_is_refused_with_a_message(api_client):
    expired = timezone.now() - timedelta(minutes=1)
    _, key = write_key(name="trial", expiry_date=expired)
    response = write(api_client, key)
    assert response.status_code == 401
    assert "API key 'trial' expired at" in response.json()["detail"]


def test_a_key_not_yet_expired_may_write(api_client):
    _, key = write_key(name="trial", expiry_date=timezone.now() + timedelta(days=1))
    assert write(api_client, key).status_code == 201


@pytest.mark.parametrize("scheme", ["Bearer", "Api-Key"])
def test_a_key_with_a_known_prefix_and_a_wrong_secret_is_refused(api_client, scheme):
    api_key, _ = write_key()
    response = write(api_client, f"{api_key.prefix}.not-the-secret", scheme)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid API key."


def test_a_key_with_characters_beyond_ascii_is_refused_not_a_server_error(api_client):
    response = write(api_client, "clé-über-geheim")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid API key."


def test_the_bootstrap_key_from_the_environment_still_works(api_client):
    assert write(api_client, BOOTSTRAP_KEY).status_code == 201


def test_a_write_without_a_key_says_how_to_get_one(api_client):
    response = api_client.post("/users", USER, format="json")
    assert response.status_code == 401
    assert "create_api_key" in response.json()["detail"]


def test_reads_of_recommendations_need_a_key_too(api_client):
    user = UserFactory()
    assert api_client.get(f"/recommendation/{user.pk}").status_code == 401
    _, key = ApiKey.objects.create_key(name="app", scope="read")
    response = read(api_client, key, f"/recommendation/{user.pk}")
    assert response.status_code == 200
    assert response.json()["user_id"] == user.pk


# Scopes


def test_a_read_key_reads_and_may_not_write(api_client):
    user = UserFactory()
    _, key = ApiKey.objects.create_key(name="reporting", scope="read")
    assert read(api_client, key, f"/users/{user.pk}").status_code == 200
    response = write(api_client, key)
    assert response.status_code == 403
    assert "read key" in response.json()["detail"]
    assert api_client.post("/produce/users", USER, format="json").status_code == 403


def test_a_write_key_reads_and_writes(api_client):
    _, key = write_key()
    created = write(api_client, key)
    assert created.status_code == 201
    assert read(api_client, key, f"/users/{created.json()['id']}").status_code == 200


def test_a_new_key_is_a_read_key_unless_made_a_write_key():
    api_key, _ = ApiKey.objects.create_key(name="default")
    assert api_key.scope == Scope.READ


def test_rescoping_a_key_takes_effect_at_the_next_request(api_client):
    api_key, key = ApiKey.objects.create_key(name="platform", scope="read")
    assert write(api_client, key).status_code == 403
    api_key.scope = Scope.WRITE
    api_key.save()
    assert write(api_client, key).status_code == 201


# The management command


@pytest.mark.parametrize(("scope", "status"), [("write", 201), ("read", 403)])
def test_create_api_key_prints_a_key_of_its_scope(api_client, scope, status):
    key, advice = create_api_key("platform", "--scope", scope)
    assert "cannot be shown again" in advice
    assert ApiKey.objects.get().name == "platform"
    assert ApiKey.objects.get().scope == scope
    assert read(api_client, key).status_code == 200
    assert write(api_client, key).status_code == status


def test_create_api_key_with_an_expiry(api_client):
    key, advice = create_api_key("trial", "--scope", "write", "--expires-in-days", "7")
    expiry = ApiKey.objects.get().expiry_date
    assert timedelta(days=6) < expiry - timezone.now() <= timedelta(days=7)
    assert "valid until" in advice
    assert write(api_client, key).status_code == 201


@pytest.mark.parametrize(
    "args",
    [
        ["x" * 51, "--scope", "read"],
        ["  ", "--scope", "read"],
        ["platform", "--scope", "write", "--expires-in-days", "0"],
        ["platform", "--scope", "admin"],
        ["platform"],
    ],
)
def test_create_api_key_refuses_a_bad_name_scope_or_expiry(args):
    with pytest.raises(CommandError):
        create_api_key(*args)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("scope", "status"), [("write", 201), ("read", 403)])
def test_a_key_created_in_the_admin_is_shown_once_with_its_scope(
    admin_client, api_client, scope, status
):
    response = admin_client.post(
        "/admin/access/apikey/add/", {"name": "platform", "scope": scope}, follow=True
    )
    prefix = "The API key for platform is: "
    (message,) = [str(m) for m in response.context["messages"] if str(m).startswith(prefix)]
    key = message.removeprefix(prefix).split(". Please")[0]
    assert write(api_client, key).status_code == status
    listing = admin_client.get("/admin/access/apikey/").content.decode()
    assert f'<td class="field-scope">{scope}' in listing

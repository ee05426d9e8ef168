"""access 0001: the keys made before scopes existed move to access.ApiKey as write keys."""

from rest_framework_api_key.crypto import KeyGenerator

from access.models import ApiKey, Scope

LIBRARY = ("rest_framework_api_key", "0005_auto_20220110_1102")


def test_existing_keys_become_write_keys_that_still_work(executor, api_client, settings):
    executor.migrate([("access", None), LIBRARY])
    old = executor.loader.project_state([LIBRARY]).apps.get_model(
        "rest_framework_api_key", "APIKey"
    )
    key, prefix, hashed = KeyGenerator().generate()
    old.objects.create(id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name="platform")

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    moved = ApiKey.objects.get()
    assert (moved.name, moved.scope, moved.prefix) == ("platform", Scope.WRITE, prefix)
    assert moved.is_valid(key)
    assert not old.objects.exists()
    settings.REQUIRE_CREDENTIALS = True
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    # Its write scope, without a write here (that would start a drain thread on this test's db).
    assert api_client.get("/users").status_code == 200
    assert api_client.post("/users", {}, format="json").status_code == 400  # past the key check

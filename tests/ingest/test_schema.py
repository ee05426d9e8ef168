"""The OpenAPI schema is valid and drf-spectacular has nothing to warn about."""

from io import StringIO

import pytest
from django.core.management import call_command
from drf_spectacular.management.commands.spectacular import SchemaGenerationError


@pytest.mark.django_db
def test_schema_validates_without_warnings(tmp_path):
    path, messages = tmp_path / "schema.yaml", StringIO()
    try:
        call_command(
            "spectacular", "--validate", "--fail-on-warn", "--file", str(path), stderr=messages
        )
    except SchemaGenerationError:
        pytest.fail(f"drf-spectacular warned:\n{messages.getvalue()}")
    schema = path.read_text()
    for route in ("/users/{user_id}:", "/coupons/user/{user_id}:", "/events:", "/readyz:"):
        assert route in schema

"""`recommendations.sql.read_only`: the database itself refuses writes inside it."""

import pytest
from django.db import DatabaseError

from ingest.models import User
from recommendations.sql import read_only
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_writes_are_refused_inside_read_only_and_allowed_again_after():
    with read_only(), pytest.raises(DatabaseError):
        UserFactory()
    UserFactory()
    assert User.objects.count() == 1

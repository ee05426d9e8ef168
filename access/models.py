"""API keys with a scope (docs/production.md, "Access"): read keys read, write keys also write."""

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    READ = "read", "read: GET requests only"
    WRITE = "write", "write: reads and writes"


class ApiKey(AbstractAPIKey):
    """An API key (only its hash is stored) and what it may do.

    New keys are read keys unless made write keys: least privilege. The
    keys that existed before scopes became write keys (migration 0001), as
    every key could write then.
    """

    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    @property
    def may_write(self) -> bool:
        return self.scope == Scope.WRITE

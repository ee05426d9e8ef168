"""`manage.py create_api_key NAME --scope read|write [--expires-in-days N]`: a key, printed once.

Only the key's hash is stored (`access.models.ApiKey`), so this is the one
moment it can be read: the key alone goes to stdout, for scripts
(`KEY=$(manage.py create_api_key platform --scope write)`), the advice to
stderr. A read key reads; a write key reads and writes. The key works at
once, and is revoked, rescoped or given an expiry in the admin.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from access.models import ApiKey, Scope

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = "Create an API key (read or write scope) and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who holds the key, e.g. 'platform' (at most 50 chars)")
        parser.add_argument(
            "--scope",
            required=True,
            choices=Scope.values,
            help="read: GET requests only; write: reads and writes",
        )
        parser.add_argument(
            "--expires-in-days", type=int, help="the key stops working after this many days"
        )

    def handle(self, *, name: str, scope: str, expires_in_days: int | None, **options):
        name = name.strip()
        if not 0 < len(name) <= NAME_MAX_LENGTH:
            raise CommandError(f"NAME must be 1 to {NAME_MAX_LENGTH} characters.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more.")
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        api_key, key = ApiKey.objects.create_key(name=name, scope=scope, expiry_date=expiry)
        self.stdout.write(key)
        until = f"until {expiry.isoformat()}" if expiry else "with no expiry"
        self.stderr.write(
            f"{scope.capitalize()} API key '{api_key.name}' (prefix {api_key.prefix}) created, "
            f"valid {until}. Store it now: it cannot be shown again. Revoke it in the admin."
        )

"""Make an API token for a user and print it: the only time it is shown."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from editor.api import tokens
from editor.models import ApiToken


class Command(BaseCommand):
    help = "Make an API token for USERNAME and print it (shown this once; only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--scope", choices=[ApiToken.READ, ApiToken.WRITE], default=ApiToken.READ, help="default: read"
        )
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument("--expires-in-days", type=int, default=None, help="default: never expires")

    def handle(self, *args, username, scope, name, expires_in_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is deactivated")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        _, secret = tokens.create_token(user=user, scope=scope, name=name, expires_at=expires_at)
        self.stdout.write(secret)

"""``manage.py api_token create|list|revoke``: API tokens for the import API (importers/api_tokens.py)."""

import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from importers.api_tokens import api_token_create, api_token_revoke
from importers.models import ApiToken


class Command(BaseCommand):
    help = "Make, list or revoke the API tokens with which departments' systems call the import API."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token; its secret is printed once")
        create.add_argument("--user", required=True, help="the account the token acts as (a staff account)")
        create.add_argument("--name", required=True, help="what uses it, e.g. 'survey department sync'")
        create.add_argument("--expires-days", type=int, default=365, help="0: never (default: 365)")
        listing = actions.add_parser("list", help="the tokens, without their secrets")
        listing.add_argument("--user", help="only this account's")
        revoke = actions.add_parser("revoke", help="stop a token from working")
        revoke.add_argument("id", type=int)

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No account '{options['user']}'.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"'{user}' is not an active staff account: the import API would refuse its token.")
        days = options["expires_days"]
        if days < 0:
            raise CommandError("--expires-days: 0 (never) or more.")
        expires_at = timezone.now() + datetime.timedelta(days=days) if days else None
        token, secret = api_token_create(user=user, name=options["name"], expires_at=expires_at)
        self.stderr.write(f"API token #{token.pk} for {user}; copy it now, it is not shown again:")
        self.stdout.write(secret)

    def _list(self, options: dict) -> None:
        tokens = ApiToken.objects.select_related("user")
        if options["user"]:
            tokens = tokens.filter(user__username=options["user"])
        for token in tokens:
            expires = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            described = f"#{token.pk}  {token.prefix}…  {token.user}  {token.name!r}  {token.state()}"
            self.stdout.write(f"{described}, expires {expires}, last used {used}")

    def _revoke(self, options: dict) -> None:
        token = ApiToken.objects.filter(pk=options["id"]).first()
        if token is None:
            raise CommandError(f"No API token #{options['id']}.")
        api_token_revoke(token=token)
        self.stdout.write(f"API token #{token.pk} ({token.name}) revoked.")

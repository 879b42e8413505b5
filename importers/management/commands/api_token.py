"""``manage.py api_token create|list|revoke``: API tokens for the import API (importers/api_tokens.py)."""

import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from importers.api_tokens import api_token_create, api_token_revoke
from importers.models import ApiToken

MAX_DAYS = 3650  # a token that outlives ten years of staff changes is a forgotten one
IMPORT_PERMISSIONS = ("importers.add_importjob", "importers.view_importjob")


class Command(BaseCommand):
    help = "Make, list or revoke the API tokens with which departments' systems call the import API."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token; its secret is printed once")
        create.add_argument("--user", required=True, help="the account the token acts as (a staff account)")
        create.add_argument("--name", required=True, help="what uses it, e.g. 'survey department sync'")
        days_help = f"0: never, at most {MAX_DAYS} (default: 365)"
        create.add_argument("--expires-days", type=int, default=365, help=days_help)
        create.add_argument(
            "--allow-superuser", action="store_true", help="let a superuser's token hold every permission it has"
        )
        listing = actions.add_parser("list", help="the tokens, without their secrets")
        listing.add_argument("--user", help="only this account's")
        revoke = actions.add_parser("revoke", help="stop a token from working")
        revoke.add_argument("id", type=int)

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict) -> None:
        model = get_user_model()
        try:
            user = model.objects.get_by_natural_key(options["user"])
        except model.DoesNotExist:
            raise CommandError(f"No account '{options['user']}'.") from None
        if not (user.is_active and user.is_staff):
            raise CommandError(f"'{user}' is not an active staff account: the import API would refuse its token.")
        if user.is_superuser and not options["allow_superuser"]:
            raise CommandError(
                f"'{user}' is a superuser: its token would hold every permission, in another system's hands. "
                "Make an account with only the import permissions, or pass --allow-superuser."
            )
        if not any(user.has_perm(permission) for permission in IMPORT_PERMISSIONS):
            neither = " nor ".join(IMPORT_PERMISSIONS)
            self.stderr.write(f"Warning: '{user}' holds neither {neither}; the API will refuse its token.")
        days = options["expires_days"]
        if not 0 <= days <= MAX_DAYS:
            raise CommandError(f"--expires-days: 0 (never) to {MAX_DAYS}.")
        expires_at = timezone.now() + datetime.timedelta(days=days) if days else None
        token, secret = api_token_create(user=user, name=options["name"], expires_at=expires_at)
        self.stderr.write(f"API token #{token.pk} for {user}; copy it now, it is not shown again:")
        self.stdout.write(secret)

    def _list(self, options: dict) -> None:
        tokens = ApiToken.objects.select_related("user")
        if options["user"]:
            tokens = tokens.filter(user__username=options["user"])
        for token in tokens:
            # in the municipality's time zone, as the admin shows them
            expires = f"{timezone.localtime(token.expires_at):%Y-%m-%d}" if token.expires_at else "never"
            used = f"{timezone.localtime(token.last_used_at):%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            described = f"#{token.pk}  {token.prefix}…  {token.user}  {token.name!r}  {token.state()}"
            self.stdout.write(f"{described}, expires {expires}, last used {used}")

    def _revoke(self, options: dict) -> None:
        token = ApiToken.objects.filter(pk=options["id"]).first()
        if token is None:
            raise CommandError(f"No API token #{options['id']}.")
        api_token_revoke(token=token)
        self.stdout.write(f"API token #{token.pk} ({token.name}) revoked.")

"""API tokens for the import API: made, checked and revoked here (the model is importers.models.ApiToken).

A request carries one as ``Authorization: Bearer <token>`` (RFC 6750 §2.1). The secret is 32 random
bytes; only its SHA-256 digest and its first 12 characters (to tell tokens apart) are stored, so a copy
of the database does not hold usable tokens.
(A slow password hash is not needed: nobody can guess 256 random bits, however fast each try.)
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from geoportal.errors import NotAuthenticated

from .models import ApiToken

TOKEN_PREFIX = "gpt_"  # noqa: S105 - a marker that tells a leaked token for ours, not a secret
TOKEN_PATTERN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32) is 43 characters
BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)  # RFC 6750 §2.1: the scheme is case-insensitive
LAST_USED_EVERY = datetime.timedelta(minutes=1)  # at most one write per token a minute
# RFC 9110 §11.6.1: a 401 says how to authenticate.
CHALLENGE = 'Bearer realm="geoportal"'
# One answer for every refused token: whoever holds a leaked secret learns nothing of its state. The
# reason goes to the log, for the portal's operators.
INVALID = "The API token is not valid."
logger = logging.getLogger(__name__)


class TokenRefused(NotAuthenticated):
    """A request whose bearer token is malformed, unknown, expired or revoked (RFC 6750 §3.1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime.datetime | None = None
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; return it and its secret, which is not stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[:12], digest=_digest(secret), expires_at=expires_at
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Stop a token from working, for good (the row stays, as a record of what had access)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def bearer_secret(authorization: str | None) -> str | None:
    """Return the secret of an ``Authorization: Bearer`` header, None without the header; refuse another scheme."""
    if not authorization:
        return None
    match = BEARER.fullmatch(authorization)
    if match is None:
        raise TokenRefused("Authorization: only 'Bearer <API token>' is accepted here.")
    return match.group(1)


def api_token_user(secret: str) -> AbstractBaseUser:
    """Return the active account a token's secret stands for, or refuse it (the reason is logged)."""
    if not TOKEN_PATTERN.fullmatch(secret):
        raise TokenRefused(INVALID)
    token = ApiToken.objects.select_related("user").filter(digest=_digest(secret)).first()
    now = timezone.now()
    if token is None:
        raise TokenRefused(INVALID)
    state = token.state(now)
    if state == "active" and not token.user.is_active:
        state = "of a disabled account"
    if state != "active":
        logger.warning("API token #%s (%s…, %s) refused: %s", token.pk, token.prefix, token.user, state)
        raise TokenRefused(INVALID)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user

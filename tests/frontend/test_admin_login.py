"""frontend/admin.py, rate_limit.py: the admin's sign-in form takes LOGIN_ATTEMPTS_PER_MINUTE attempts a minute
from one address; then 429 with Retry-After, and the right password waits too. Other addresses are not held up."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


def _attempt(client, password: str, address: str = "203.0.113.7"):
    return client.post("/admin/login/?next=/admin/", {"username": "clerk", "password": password}, REMOTE_ADDR=address)


def test_sign_in_attempts_past_the_limit_are_refused_until_the_minute_is_over(client, settings, fresh_rate_window):
    settings.LOGIN_ATTEMPTS_PER_MINUTE = 5
    User.objects.create_user("clerk", password="the-right-one", is_staff=True)  # noqa: S106

    wrong = [_attempt(client, f"guess-{n}").status_code for n in range(5)]
    refused = _attempt(client, "the-right-one")

    assert wrong == [200] * 5  # the form again, with its error
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 61
    assert refused.content.decode().startswith("Sign-in: too many requests: at most 5 a minute")
    assert client.get("/admin/login/", REMOTE_ADDR="203.0.113.7").status_code == 200  # the form itself is shown
    assert _attempt(client, "the-right-one", address="198.51.100.4").status_code == 302  # another address signs in

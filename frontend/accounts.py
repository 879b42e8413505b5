"""Signing in and out for the portal's own users: planners and ministry accounts, who are not staff.

The admin's sign-in admits staff only, so before this a planner (the planners group of
``layers.services.roles``, not staff) could not sign in at all, and every parcel file was the public one.
Sign-in attempts are limited per client address (``rate_limit.login_attempts_limited``), as the admin's are;
``next`` leads back to the page the user came from, never to another site (Django's LoginView checks it).
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from .rate_limit import login_attempts_limited

sign_in_view = login_attempts_limited(
    auth_views.LoginView.as_view(template_name="frontend/sign_in.html", redirect_authenticated_user=True)
)
# A POST only (Django 5): a link or an image on another page cannot sign a user out.
sign_out_view = auth_views.LogoutView.as_view()

"""The portal's roles as Django groups: planners see whole parcel files."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from layers.parcel_file.access import SCOPE_PERMISSIONS

PLANNERS = "planners"


@transaction.atomic
def roles_ensure() -> Group:
    """Create the planners group with every parcel-file scope (idempotent); return it.

    Ministry accounts get a group of their own holding only the permissions of their grant
    (e.g. the real-estate registry: ``layers.view_owner_data``), made in the admin.
    """
    planners, _ = Group.objects.get_or_create(name=PLANNERS)
    codenames = [permission.split(".", 1)[1] for permission in SCOPE_PERMISSIONS.values()]
    permissions = Permission.objects.filter(content_type__app_label="layers", codename__in=codenames)
    if permissions.count() != len(codenames):
        raise LookupError("the parcel-file permissions are missing: run manage.py migrate first.")
    planners.permissions.add(*permissions)
    return planners

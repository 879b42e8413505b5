"""Record and read the audit log of parcel-file views (layers/models/audit.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from layers.models import FileChannel, ParcelFileView

from .access import FileAccess

EXPORT_COLUMNS = ("viewed_at", "username", "parcel_id", "channel", "scopes", "document_code", "client_ip", "user_agent")


def parcel_file_view_record(
    *,
    user,
    access: FileAccess,
    parcel_id: int,
    channel: FileChannel,
    client_ip: str | None,
    user_agent: str,
    document_code: str = "",
) -> ParcelFileView | None:
    """Log a view of a parcel's file by a signed-in user; anonymous views are not personal data to log."""
    if not access.signed_in:
        return None
    return ParcelFileView.objects.create(
        user=user,
        username=user.get_username(),
        parcel_id=parcel_id,
        channel=channel,
        scopes=sorted(access.scopes),
        document_code=document_code,
        client_ip=client_ip,
        user_agent=user_agent[:300],
    )


def parcel_file_views_csv(views: Iterable[ParcelFileView]) -> str:
    """Return the views as CSV, one row per view (for the admin's export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for view in views:
        writer.writerow(
            [
                view.viewed_at.isoformat(),
                view.username,
                view.parcel_id,
                view.channel,
                " ".join(view.scopes),
                view.document_code,
                view.client_ip or "",
                # A spreadsheet would run a cell that starts with = + - @ as a formula.
                _csv_safe(view.user_agent),
            ]
        )
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

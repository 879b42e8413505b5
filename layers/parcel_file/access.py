"""Who may see what in a parcel file. Deny by default: everything restricted needs a permission.

The public (anonymous, or signed in without permissions) sees the public subset. Each restricted
part of the file is a scope, granted by a Django permission:

- ``owners``: owner names, civil ids and shares, and the applicants of building permits;
- ``document_contents``: opening and downloading the archived building-file documents.

Planners get both through the ``planners`` group (layers/services/roles.py). A ministry account
gets what its grant says: a group holding the permissions of its grant, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FileScope(StrEnum):
    OWNERS = "owners"
    DOCUMENT_CONTENTS = "document_contents"


SCOPE_PERMISSIONS: dict[FileScope, str] = {
    FileScope.OWNERS: "layers.view_owner_data",
    FileScope.DOCUMENT_CONTENTS: "layers.view_document_contents",
}


@dataclass(frozen=True)
class FileAccess:
    scopes: frozenset[FileScope] = frozenset()
    signed_in: bool = False

    def allows(self, scope: FileScope) -> bool:
        return scope in self.scopes

    @property
    def role(self) -> str:
        if self.scopes == frozenset(FileScope):
            return "full"
        return "restricted" if self.scopes else "public"


PUBLIC = FileAccess()


def file_access_for(user) -> FileAccess:
    """Return what ``user`` may see of a parcel file (the public subset unless granted more)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return PUBLIC
    scopes = frozenset(scope for scope, permission in SCOPE_PERMISSIONS.items() if user.has_perm(permission))
    return FileAccess(scopes=scopes, signed_in=True)

"""Django's PostGIS backend, plus hooks that run just before each COMMIT (and after it).

Django's ``on_commit`` runs after a commit; tiles/publication.py must act between a transaction's
last write and its commit (it removes the published tiles the transaction's changes make stale).
A hook takes the connection, may query within the transaction, and returns what to run once the
commit is over (whether it succeeded or not), or None. A hook that fails rolls the transaction
back: the change is refused rather than committed with stale tiles left behind.

Transactions commit here when Django's outermost ``atomic`` block exits; statements run in
autocommit mode commit on their own, so every write path that records change events does so in
``atomic`` (layers.services.changes.change_record refuses to run outside one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGISDatabaseWrapper
from django.db import DatabaseError

from geoportal.errors import DomainError

logger = logging.getLogger(__name__)

BeforeCommitHook = Callable[["DatabaseWrapper"], Callable[[], None] | None]
BEFORE_COMMIT: list[BeforeCommitHook] = []


def before_commit_register(hook: BeforeCommitHook) -> None:
    if hook not in BEFORE_COMMIT:
        BEFORE_COMMIT.append(hook)


class CommitRefused(DatabaseError, DomainError):
    """A hook refused the transaction for a reason the user can act on (its DomainError); it was rolled back.

    A DatabaseError, as Django's ``atomic`` expects of a failed commit, that answers as its refusal does
    (geoportal/errors.py): its status, its code, its Retry-After.
    """

    def __init__(self, refusal: DomainError) -> None:
        DomainError.__init__(self, f"the transaction was rolled back: {refusal.message}")
        self.status, self.code = refusal.status, refusal.code
        self.retry_after_seconds = getattr(refusal, "retry_after_seconds", None)


class DatabaseWrapper(PostGISDatabaseWrapper):
    def _commit(self):
        if self.connection is None or not BEFORE_COMMIT:
            return super()._commit()
        afterwards: list[Callable[[], None]] = []
        try:
            for hook in BEFORE_COMMIT:
                after = hook(self)
                if after is not None:
                    afterwards.append(after)
        except Exception as error:
            _run_all(afterwards)
            self.connection.rollback()
            if isinstance(error, DomainError):
                raise CommitRefused(error) from error
            raise DatabaseError(f"the transaction was rolled back: {error}") from error
        try:
            return super()._commit()
        finally:
            _run_all(afterwards)


def _run_all(afterwards: list[Callable[[], None]]) -> None:
    """Run each hook's afterwards, logging a failure: the commit (or its refusal) is what its caller must hear of,
    and an exception here would tell the caller that a committed transaction had failed."""
    for after in afterwards:
        try:
            after()
        except Exception:
            logger.exception("a step after a commit failed; the commit is not undone")

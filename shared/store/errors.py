"""The store's own errors: what callers catch instead of the database library's exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """The database did not do what was asked: unreachable, too slow, refused, or contended past our attempts."""

    @property
    def message(self) -> str:
        return str(self)


class MissingIndex(StoreError):
    """A query needs a composite index the database does not have (see infra/firestore.indexes.json)."""


class Contention(StoreError):
    """A transaction was aborted by concurrent writers on every attempt."""


class AlreadyStored(StoreError):
    """A create met a document that already exists."""

"""Errors services raise; each carries a short Chinese message fit to show the user."""
from __future__ import annotations

from typing import Optional


class ServiceError(Exception):
    """Base: ``str(error)`` is the user-facing Chinese message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """No such task, indicator, person or invite."""

    def __init__(self, message: str, suggestions: Optional[list[str]] = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class InvalidInput(ServiceError):
    """The input cannot be used as given (bad number, empty text, ...)."""


class PermissionDenied(ServiceError):
    """The person's role does not allow this."""


class NeedsConfirmation(ServiceError):
    """The change looks wrong (e.g. progress going down); ask before doing it (the caller
    keeps what to redo once confirmed, e.g. in its dialogue)."""

"""Chat handlers: one neutral message in, replies out. No chat SDK is imported here."""
from handlers.core import handle

__all__ = ["handle"]

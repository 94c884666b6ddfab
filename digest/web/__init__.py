"""The subscribers' web side: one-click unsubscribe, double opt-in, preferences, archive."""

from digest.web.app import create_app

__all__ = ["create_app"]

"""digest: a weekly French newsletter digest, from sources to subscribers' inboxes."""

__version__ = "0.1.0"

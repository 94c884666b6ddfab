"""The one error tree of digest.

    DigestError                 anything digest reports to a user (exit status 1)
    ├── ConfigError             a setting is unknown, missing or invalid
    ├── SourceError             a source could not be read (feed, folder, page)
    │   └── ArticleError        one article could not be parsed
    ├── SummaryError            a summarizer failed on an article
    ├── CompositionError        the week cannot make an issue (no articles, ...)
    ├── RenderError             a template or the MJML compiler failed
    ├── MessageError            a message could not be built (bad address, header)
    ├── DeliveryError           the SMTP relay could not be used
    ├── LedgerError             the database could not be read or written
    └── SubscriberError         a subscriber list or address is invalid

Library exceptions are caught in the one module that calls the library and re-raised
as one of these ``from exc``; ``cli.py`` is the only place that turns them into exit codes.
"""


class DigestError(Exception):
    """Base of every error digest reports to a user; the message is one line."""


class ConfigError(DigestError):
    """A setting is unknown, missing or invalid."""


class SourceError(DigestError):
    """A source (feed, folder, page) could not be read."""


class ArticleError(SourceError):
    """One article of a source could not be parsed."""


class SummaryError(DigestError):
    """A summarizer failed on an article."""


class CompositionError(DigestError):
    """The week's articles cannot make an issue."""


class RenderError(DigestError):
    """A template or the MJML compiler failed."""


class MessageError(DigestError):
    """A message could not be built."""


class DeliveryError(DigestError):
    """The SMTP relay could not be used."""


class LedgerError(DigestError):
    """The database could not be read or written."""


class SubscriberError(DigestError):
    """A subscriber list or address is invalid."""

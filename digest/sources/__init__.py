"""Where the week's articles come from: feeds and folders, read into cleaned Articles.

``gather_articles`` is the stage's entry point; one module per source kind, the shared HTTP
fetcher in ``fetching``, dates of every precision in ``dates``, URL keys in ``urls``.
"""

from digest.sources.dates import parse_published
from digest.sources.feed import read_feed
from digest.sources.fetching import Fetcher
from digest.sources.folder import read_folder
from digest.sources.gather import gather_articles
from digest.sources.saved_page import SavedPage, parse_saved_page

__all__ = [
    "Fetcher",
    "SavedPage",
    "gather_articles",
    "parse_published",
    "parse_saved_page",
    "read_feed",
    "read_folder",
]

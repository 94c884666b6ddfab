"""Where the week's articles come from: feeds, WordPress, folders, pages, as clean Articles.

``gather_articles`` is the stage's entry point; one module per source kind (``feed`` with
``jsonfeed``, ``wordpress``, ``folder`` with ``saved_page``, ``page``), the shared HTTP
fetcher in ``fetching`` with its on-disk ``cache``, full text of teasers in ``fulltext``,
dates of every precision in ``dates``, URL keys in ``urls``, dedupe and caps in
``selection``, the week's ``editorial`` file, and the ``health`` table of a gather.
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

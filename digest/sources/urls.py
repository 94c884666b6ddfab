"""Article URLs: tracking parameters removed from links, one canonical key for dedupe."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "_hs")
_TRACKING_NAMES = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid"}
    | {"mc_cid", "mc_eid", "xtor", "xtref", "ocid", "mkt_tok", "_ga", "_gl", "ns_source"}
    | {"ns_mchannel", "ns_campaign"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def strip_tracking(url: str) -> str:
    """``url`` without its fragment and tracking parameters (utm_*, fbclid, xtor, at_*…)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # a malformed URL is linked as given
        return url.strip()
    kept = _kept_params(parts.query)
    # Re-encode the query only when a parameter went, so other links stay byte for byte.
    changed = len(kept) != len(parse_qsl(parts.query, keep_blank_values=True))
    query = urlencode(kept) if changed else parts.query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def canonical_url(url: str) -> str:
    """The dedupe key of ``url``: lowercase host, http=https, no tracking, no trailing slash."""
    if not url.strip():
        return ""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a malformed URL is its own key
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    # The same article is often linked over both schemes; the key does not tell them apart.
    key_scheme = "https" if scheme in _DEFAULT_PORTS else scheme
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    query = urlencode(sorted(_kept_params(parts.query)))
    if not (scheme or netloc or parts.path or query):
        return ""  # "?" or "#top": no more a link than ""
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((key_scheme, netloc, path, query, ""))


def https_only(url: str) -> str:
    """``url`` if it is an https URL, else "" (mail clients block mixed-content images)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() == "https" and parts.hostname else ""


def is_web_link(url: str) -> bool:
    """False for a link a reader must never be sent to: javascript:, data:, file:, ...

    An empty link is allowed (the card then links to the archive); a relative one too.
    """
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in ("", "http", "https")


def _kept_params(query: str) -> list[tuple[str, str]]:
    pairs = parse_qsl(query, keep_blank_values=True)
    return [(key, value) for key, value in pairs if not _is_tracking(key)]


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)

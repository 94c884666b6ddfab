"""The issue as a standalone web page: the email's HTML, sanitised, with its own head.

What a build writes as ``issue.html`` and what "Voir la version en ligne" shows. The
email's body goes through nh3 (no script, no event handler, no form, no remote CSS);
only the style blocks MJML wrote are kept from its head.
"""

from __future__ import annotations

import html as html_lib
import re

import nh3

_TAGS = frozenset(
    [
        "a",
        "b",
        "br",
        "center",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "span",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_COMMON = frozenset(
    [
        "style",
        "class",
        "align",
        "valign",
        "width",
        "height",
        "role",
        "dir",
        "lang",
        "bgcolor",
        "border",
        "cellpadding",
        "cellspacing",
    ]
)
_ATTRIBUTES = {
    "*": set(_COMMON),
    "a": set(_COMMON | {"href", "title"}),
    "img": set(_COMMON | {"src", "alt"}),
}
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
# Style text may not close its element or pull in anything from elsewhere.
_UNSAFE_CSS = re.compile(r"</|<!|@import|url\(|expression\(", re.IGNORECASE)


def web_page(email_html: str, title: str) -> str:
    """The email's HTML as a sanitised standalone page (personal slots already filled)."""
    found = _BODY.search(email_html)
    body = nh3.clean(
        found.group(1) if found else email_html,
        tags=set(_TAGS),
        clean_content_tags={"script", "style", "noscript", "template", "iframe", "object"},
        attributes=_ATTRIBUTES,
        url_schemes={"https", "mailto"},
        link_rel="noopener noreferrer",
    )
    styles = "\n".join(
        block.strip() for block in _STYLE_BLOCK.findall(email_html) if not _UNSAFE_CSS.search(block)
    )
    return (
        '<!doctype html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{html_lib.escape(title)}</title>\n<style>\n{styles}\n</style>\n</head>\n"
        f'<body style="margin:0">\n{body}\n</body>\n</html>\n'
    )

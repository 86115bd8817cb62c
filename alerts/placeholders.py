"""Filling ``${NAME}`` placeholders of route URLs with secrets, encoded for where they sit.

A secret is pasted into a URL, so its characters must not change the URL's structure: an
``@`` or ``/`` in an SMTP password would otherwise end the password early, and Apprise would
take the rest for the host name (sending it to DNS, and showing it in errors unmasked, since
only the whole value is known to be secret). Each value is percent-encoded for its position:

* in the user or password part (before the ``@`` of the host): everything but letters,
  digits and ``-._~`` (Apprise decodes them again);
* in the host part, where Slack-style tokens live (``slack://${TOKEN}/#channel``, the token
  holding ``/``-separated parts): only what would end or escape it (``@ ? # %``, spaces);
* in the path: what would end it (``? #``), ``%`` and spaces;
* in the query: also ``& =`` and ``+``.

A value that is already percent-encoded (every ``%`` starts a ``%XX`` escape, and nothing else
in it needs encoding there) keeps its escapes, so a secret written encoded by hand, as the only
way that worked before, still works; ``k9%41Zx@y`` (a raw ``@`` beside the ``%41``) is taken as
written and encoded whole.
Every filled value is registered as a secret: as written, as encoded, and as decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote

from alerts.masking import register_secret

__all__ = ["PLACEHOLDER", "encode_for_position", "fill_placeholders"]

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")

# Characters kept as they are, by position (letters, digits and "_.-~" are always kept).
_SAFE = {
    "userinfo": "",
    "host": ":/[]!$&'()*+,;=",
    "path": "/:@!$&'()*+,;=",
    "query": "/:@!$'()*,;",
    "fragment": "/:@!$&'()*+,;=?",
}


def _position(url: str, index: int) -> str:
    """Which part of ``url`` (a template with placeholders) the character at ``index`` is in."""
    scheme = url.find("://")
    if scheme < 0 or index < scheme:
        return "path"
    start = scheme + 3
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    authority_end = min(ends) if ends else len(url)
    if index < authority_end:
        at = url.rfind("@", start, authority_end)
        return "userinfo" if at > index else "host"
    fragment = url.find("#", authority_end)
    if fragment >= 0 and index > fragment:
        return "fragment"
    query = url.find("?", authority_end)
    return "query" if 0 <= query < index else "path"


def _pre_encoded(value: str, safe: str) -> bool:
    """True when ``value`` was written percent-encoded: every ``%`` starts a ``%XX`` escape and
    nothing else in it would need encoding here (a raw ``@`` next to ``%41`` says it was not)."""
    if "%" not in value or value.count("%") != len(_ESCAPE.findall(value)):
        return False
    return quote(value, safe=safe + "%") == value


def encode_for_position(url: str, index: int, value: str) -> str:
    """``value`` percent-encoded for the part of ``url`` where position ``index`` lies."""
    safe = _SAFE[_position(url, index)]
    if _pre_encoded(value, safe):
        safe += "%"
    return quote(value, safe=safe)


def fill_placeholders(url: str, lookup: Callable[[str], str]) -> str:
    """``url`` with every ``${NAME}`` replaced by ``lookup(NAME)``, encoded for its position.

    Each value is registered for masking (as looked up, as encoded and as decoded) before the
    filled URL exists, so nothing can show or log it unmasked.
    """
    pieces: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(url):
        value = lookup(match.group(1))
        encoded = encode_for_position(url, match.start(), value)
        for form in {value, encoded, unquote(value)}:
            register_secret(form)
        pieces += [url[last : match.start()], encoded]
        last = match.end()
    pieces.append(url[last:])
    return "".join(pieces)

"""Keeping secrets of notification URLs out of logs, errors, the database and output.

Apprise's privacy mode (``url(privacy=True)``) masks passwords and tokens, but not custom
headers such as ``json://host/?+X-Token=...``, and Apprise's own DEBUG log lines print full
webhook URLs. So we also derive the *secret parts* of every configured URL (every component
that the privacy form hides) and replace them wherever text leaves the process: in stored
errors (:func:`mask_text`) and in every log record (:func:`install_log_masking`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise

__all__ = [
    "MASK",
    "SecretMaskingFilter",
    "install_log_masking",
    "mask_text",
    "mask_url",
    "secret_parts",
]

MASK = "****"
_SECRET_KEYS = re.compile(r"pass|pw|token|secret|key|auth|sig|webhook|apikey", re.IGNORECASE)
_MIN_SECRET = 4
_lock = threading.Lock()
_registered: set[str] = set()


def _fallback_mask(url: str) -> str:
    """A masked form for URLs Apprise cannot parse: keep the scheme and host only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{MASK}"
    host = parts.hostname or ""
    return f"{parts.scheme}://{MASK}@{host}/{MASK}" if parts.scheme else MASK


def mask_url(url: str) -> str:
    """The URL as it may be shown or stored: Apprise's privacy form, secret parts masked."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    shown = plugin.url(privacy=True) if plugin else _fallback_mask(url)  # type: ignore[no-untyped-call]
    return mask_text(str(shown), secret_parts(url))


def secret_parts(url: str) -> set[str]:
    """Parts of ``url`` that must never be shown: user info, tokens, secret query values.

    A path segment or query value counts as secret when Apprise's privacy form hides it or
    its key looks like one (``token``, ``password``, custom ``+Header`` values).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    private = unquote(str(plugin.url(privacy=True))) if plugin else ""  # type: ignore[no-untyped-call]
    found: set[str] = set()
    if parts.password:
        found.add(parts.password)
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]  # keeps case, unlike .hostname
    for segment in [parts.username or "", *parts.path.split("/"), host]:
        segment = unquote(segment)
        # A host-like segment that the private form keeps is an address, not a secret.
        if len(segment) >= _MIN_SECRET and segment not in private:
            found.add(segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if len(value) < _MIN_SECRET:
            continue
        if key.startswith(("+", "-")) or _SECRET_KEYS.search(key) or value not in private:
            found.add(value)
    # Slack-style tokens joined with "/" also appear as one string in webhook URLs.
    found.discard("")
    return found | {url}


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (plain and URL-quoted) in ``text`` by ``****``, longest first."""
    variants: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            variants.update({secret, quote(secret, safe=""), quote(secret, safe="/:")})
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class SecretMaskingFilter(logging.Filter):
    """A logging filter that masks registered secrets in a record's final message.

    Attach it to a handler (``handler.addFilter(...)``) or let :func:`install_log_masking`
    mask every record the process creates.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        _mask_record(record, self.secrets | _registered)
        return True


def _mask_record(record: logging.LogRecord, secrets: set[str]) -> None:
    if not secrets:
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = str(record.msg)
    masked = mask_text(message, secrets)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[1] is not None:
        # Exception texts (a failed HTTP call names its URL) are rendered later: pre-render.
        record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info), secrets)
        record.exc_info = None


_installed = False


def install_log_masking(urls: Iterable[str]) -> set[str]:
    """Mask the secrets of ``urls`` in every log record created from now on, process-wide.

    Wraps the log record factory, so records reach every handler (also ones added later,
    and test capture handlers) already masked. Idempotent; returns the registered secrets.
    """
    global _installed
    with _lock:
        for url in urls:
            _registered.update(secret_parts(url))
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: object, **kwargs: object) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _mask_record(record, _registered)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
        return set(_registered)

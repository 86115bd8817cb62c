"""Keeping secrets of notification URLs out of logs, errors, the database and output.

Apprise's privacy mode (``url(privacy=True)``) masks passwords and tokens, but not custom
headers such as ``json://host/?+X-Token=...``, and Apprise's own DEBUG log lines print full
webhook URLs. So we also derive the *secret parts* of every configured URL (every component
that the privacy form hides) and replace them wherever text leaves the process: in stored
errors (:func:`mask_text`) and in every log record (:func:`install_log_masking`).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise

__all__ = [
    "MASK",
    "SecretMaskingFilter",
    "install_log_masking",
    "mask_text",
    "mask_url",
    "register_url",
    "secret_parts",
]

MASK = "****"
_SECRET_KEYS = re.compile(r"pass|pw|token|secret|key|auth|sig|webhook|apikey", re.IGNORECASE)
_MIN_SECRET = 4
_lock = threading.Lock()
_registered: set[str] = set()
_known: set[str] = set()


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
    register_url(url)
    return _mask_url(url)


@functools.lru_cache(maxsize=256)
def _mask_url(url: str) -> str:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    shown = plugin.url(privacy=True) if plugin else _fallback_mask(url)  # type: ignore[no-untyped-call]
    return mask_text(str(shown), secret_parts(url))


def _raw_parts(url: str) -> set[str]:
    """Every component of ``url`` long enough to be a secret (over-approximation)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]  # keeps case, unlike .hostname
    found = {parts.password or "", parts.username or "", host}
    found.update(unquote(seg) for seg in parts.path.split("/"))
    found.update(v for _, v in parse_qsl(parts.query))
    return {f for f in found if len(f) >= _MIN_SECRET} | {url}


@functools.lru_cache(maxsize=256)
def _secret_parts(url: str) -> frozenset[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return frozenset({url})
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    private = unquote(str(plugin.url(privacy=True))) if plugin else ""  # type: ignore[no-untyped-call]
    found: set[str] = set()
    if parts.password:
        found.add(parts.password)
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]  # keeps case, unlike .hostname
    for segment in [parts.username or "", *parts.path.split("/"), host]:
        segment = unquote(segment)
        # A segment that the private form keeps (an address, a path) is not a secret.
        if len(segment) >= _MIN_SECRET and segment not in private:
            found.add(segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if len(value) < _MIN_SECRET:
            continue
        if key.startswith(("+", "-")) or _SECRET_KEYS.search(key) or value not in private:
            found.add(value)
    # The whole URL is a secret only when something in it is (else its masked form would be).
    return frozenset(found | {url}) if found else frozenset()


def secret_parts(url: str) -> set[str]:
    """Parts of ``url`` that must never be shown: passwords, tokens, secret query values.

    A path segment or query value counts as secret when Apprise's privacy form hides it or
    its key looks like one (``token``, ``password``, custom ``+Header`` values). Registers
    them with the log masking first, since Apprise logs the full URL while parsing it.
    """
    register_url(url)
    return set(_secret_parts(url))


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
        with _lock:
            registered = set(_registered)
        _mask_record(record, self.secrets | registered)
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


def register_url(url: str) -> None:
    """Mask ``url``'s secrets in every log record from now on (see :func:`install_log_masking`).

    Every component of the URL is masked while Apprise parses it (it logs the full URL at
    DEBUG), then only the parts found to be secret stay registered.
    """
    with _lock:
        if url in _known:
            return
        _ensure_factory()
        raw = _raw_parts(url) - _registered
        _registered.update(raw)
    refined = _secret_parts(url)
    with _lock:
        _registered.difference_update(raw - refined)
        _registered.update(refined)
        _known.add(url)


def _ensure_factory() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        with _lock:
            secrets = set(_registered)
        _mask_record(record, secrets)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def install_log_masking(urls: Iterable[str]) -> set[str]:
    """Mask the secrets of ``urls`` in every log record created from now on, process-wide.

    Wraps the log record factory, so records reach every handler (also ones added later,
    and test capture handlers) already masked. Idempotent; returns the registered secrets.
    """
    for url in urls:
        register_url(url)
    with _lock:
        return set(_registered)

"""Keeping secrets of notification URLs out of logs, errors, the database and output.

Apprise's privacy mode (``url(privacy=True)``) masks passwords and tokens, but not custom
headers such as ``json://host/?+X-Token=...``, and Apprise's own DEBUG log lines print full
webhook URLs. So we also derive the *secret parts* of every configured URL (every component
that the privacy form hides) and replace them wherever text leaves the process: in stored
errors (:func:`mask_text`) and in every log record (:func:`install_log_masking`).

A value filled into a URL from a ``${NAME}`` placeholder is a secret wherever it sits in the
URL, even where Apprise would show it (a webhook path, a host): settings register it with
:func:`register_secret`, and from then on it is masked in every masked URL (also Apprise's
``T...G`` abbreviations of it), every log record of every logger and every :func:`mask_text`.
Masking ignores case, since Apprise and URL parsing lower-case host names.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import apprise

__all__ = [
    "MASK",
    "SecretMaskingFilter",
    "install_log_masking",
    "mask_as_written",
    "mask_text",
    "mask_url",
    "quiet_apprise",
    "register_secret",
    "register_url",
    "secret_parts",
]

MASK = "****"
_SECRET_KEYS = re.compile(r"pass|pw|token|secret|key|auth|sig|webhook|apikey", re.IGNORECASE)
_MIN_SECRET = 4
# Apprise's privacy form abbreviates a token to its first and last character: ``T...G``.
_ABBREVIATION = re.compile(r"([^\W_])\.\.\.([^\W_])")
_URL_DELIMITERS = re.compile(r"[/:@?&=#,;]+")
_lock = threading.Lock()
_registered: set[str] = set()
_known: set[str] = set()
_filled: set[str] = set()  # values filled from ${NAME} placeholders: secret wherever they are

_APPRISE_LOG = logging.getLogger("apprise")
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("flext_quality_quiet_apprise",
                                                              default=False)


class _DropWhenQuiet(logging.Filter):
    """Drops Apprise's records created inside :func:`quiet_apprise` (this context only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False inside :func:`quiet_apprise`."""
        return not _quiet.get()


_DROP = _DropWhenQuiet()


@contextmanager
def quiet_apprise() -> Iterator[None]:
    """Apprise logs nothing in this context (other threads and contexts log as usual).

    Used while parsing URLs to validate or mask them: parsing a bad URL logs one ERROR line
    per try, with parts of the URL (first and last characters of a password), while the
    caller reports the problem itself, once and masked.
    """
    _APPRISE_LOG.addFilter(_DROP)  # idempotent
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def _fallback_mask(url: str) -> str:
    """A masked form for URLs Apprise cannot parse: keep the scheme and host only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{MASK}"
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]  # keeps case, unlike .hostname
    return f"{parts.scheme}://{MASK}@{host}/{MASK}" if parts.scheme else MASK


@functools.lru_cache(maxsize=256)
def _privacy_form(url: str) -> str | None:
    """Apprise's privacy form of ``url``, or None when Apprise cannot parse it (logs nothing)."""
    with quiet_apprise():
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    return None if plugin is None else str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]


def mask_url(url: str) -> str:
    """The URL as it may be shown or stored: Apprise's privacy form, secret parts masked."""
    register_url(url)
    private = _privacy_form(url)
    shown = _fallback_mask(url) if private is None else private
    return _hide_abbreviations(mask_text(shown, secret_parts(url)), url)


def mask_as_written(url: str) -> str:
    """The URL as the user wrote it, secret parts masked (for errors about the setting).

    Apprise's privacy form rewrites a URL (adds its defaults as query arguments), which makes
    an error hard to match with the setting; a URL Apprise cannot parse at all keeps only its
    scheme and host, as in :func:`mask_url`.
    """
    register_url(url)
    if _privacy_form(url) is None:
        return mask_url(url)
    return _hide_abbreviations(mask_text(url, secret_parts(url)), url)


def _hide_abbreviations(shown: str, url: str) -> str:
    """Replace Apprise's ``X...Y`` abbreviations of placeholder values in ``url`` by ``****``."""
    with _lock:
        filled = [s for s in _filled if s.casefold() in url.casefold()]
    pieces = {p.casefold() for s in filled for p in _URL_DELIMITERS.split(s) if p}
    if not pieces:
        return shown

    def hide(match: re.Match[str]) -> str:
        first, last = match.group(1).casefold(), match.group(2).casefold()
        if any(p[0] == first and p[-1] == last for p in pieces):
            return MASK
        return match.group(0)

    return _ABBREVIATION.sub(hide, shown)


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
    private = unquote(_privacy_form(url) or "")
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
    (Values filled from ``${NAME}`` placeholders are masked by :func:`mask_text` in any case.)
    """
    register_url(url)
    return set(_secret_parts(url))


@functools.lru_cache(maxsize=64)
def _secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern of every secret, plain and URL-quoted, longest first."""
    variants: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            variants.update({secret, quote(secret, safe=""), quote(secret, safe="/:"),
                             quote_plus(secret, safe="")})
    if not variants:
        return None
    ordered = sorted(variants, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (plain and URL-quoted, in any case) in ``text`` by ``****``.

    ``secrets`` are masked together with every value registered by :func:`register_secret`.
    """
    with _lock:
        every = frozenset(secrets) | _filled
    pattern = _secrets_pattern(every)
    return text if pattern is None else pattern.sub(MASK, text)


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
    if not secrets and not _filled:
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


def register_secret(value: str) -> None:
    """Mask ``value`` everywhere from now on: in masked URLs, every log record, ``mask_text``.

    Settings call it for every value they fill into a URL from a ``${NAME}`` placeholder.
    Values shorter than four characters are not masked (they would garble every text).
    """
    if len(value) < _MIN_SECRET:
        return
    with _lock:
        _ensure_factory()
        _filled.add(value)


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
    and test capture handlers) already masked. Idempotent; returns the registered secrets
    (with the values registered by :func:`register_secret`).
    """
    for url in urls:
        register_url(url)
    with _lock:
        return _registered | _filled

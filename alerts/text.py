"""Text from the data (a project name, an author, a commit message, an analyzer's error), shown as
written wherever it is read as Markdown: the dashboard's elements and the Markdown of messages."""

from __future__ import annotations

import re

__all__ = ["literal", "message_literal"]

# Markdown that the data could start inside a line: code, emphasis, links and images (the
# brackets), HTML and autolinks (<, >), entities (&), tables (|), strikethrough (~),
# Streamlit's LaTeX ($), and GFM's bare links (the ":" of "://", the "." of "www.", an e-mail's
# "@"). Other "." ":" "(" ")" stay as written: without brackets they make no link, and error
# texts keep reading as the analyzer wrote them ("setup.cfg: note: ..."). The brackets also
# stop Streamlit's own directives (":red[...]").
_INLINE = re.compile(r"[\\`*_\[\]<>&|~$@]|:(?=//)|(?<=\bwww)\.", re.IGNORECASE)
# ... and what only means something at the start of a line: headings, quotes, lists, rules.
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))", re.MULTILINE)


def literal(text: object) -> str:
    """``text`` (a project name, an analyzer's error, a query) escaped so that ``st.error``,
    ``st.info``, ``st.caption`` and the like show it as written: ``[a](https://x)`` stays
    those characters, not a link, and a bare ``https://...`` is no link either.
    """
    escaped = _INLINE.sub(lambda m: "\\" + m.group(0), str(text))
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark = match.group(1), match.group(2)
    # "1." or "1)" starts an ordered list: the escaped character is the one after the digits.
    return f"{indent}{mark}\\" if mark[0].isdigit() else f"{indent}\\{mark}"


# What makes data act in a chat message: links and images ([ ]), mentions and Slack's own
# <url|label> and <!channel> (< >), and the backslash that could undo an escape. Emphasis is
# left alone: Slack shows a backslash before * or _ as typed, and a metric name such as
# coverage.line_percent must read as it is.
_MESSAGE = re.compile(r"[\\<>\[\]]")


def message_literal(text: object) -> str:
    """``text`` escaped for the Markdown of a message (Slack, webhooks): no link, image, HTML
    or mention can come out of it, and it reads as written.

    Apprise turns ``\\<`` into ``&lt;`` and ``\\[`` into ``[`` for Slack, so a commit message
    ``<!channel> [click](http://x)`` pings nobody and plants no link.
    """
    return _MESSAGE.sub(lambda m: "\\" + m.group(0), str(text))

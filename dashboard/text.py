"""Text from the data, shown as written wherever Streamlit reads Markdown."""

from __future__ import annotations

import re

__all__ = ["literal"]

# CommonMark lets any ASCII punctuation be escaped with a backslash; these are the characters
# that start a link, an emphasis, a heading, a list, a table, code, HTML, LaTeX ($) or one of
# Streamlit's own directives (:red[...], :material/icon:).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def literal(text: object) -> str:
    """``text`` escaped for ``st.markdown``, ``st.info``, ``st.caption`` and the like.

    A project name, an analyzer's error or a query is data: ``[Sign in](https://evil.example)``
    in it must show as those characters, not as a link, and ``**`` not as bold.
    """
    return _SPECIAL.sub(r"\\\1", str(text))

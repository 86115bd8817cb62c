"""Text from the data, shown as written wherever Streamlit reads Markdown (the messages use the
same escaping: :mod:`alerts.text`)."""

from __future__ import annotations

from alerts.text import literal

__all__ = ["literal"]

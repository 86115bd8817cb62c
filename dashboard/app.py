"""The flext-quality dashboard (Streamlit entry file)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="flext-quality", layout="wide")
st.title("flext-quality")
st.write("Dashboard pages arrive with the dashboard issue.")

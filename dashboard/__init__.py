"""The Streamlit dashboard: ``app.py`` (entry, ``st.navigation``), pages in ``app_pages/``,
cached read helpers (``data*.py``) and plotly chart builders (``charts.py``).

It reads the database only through :mod:`storage`; it imports :mod:`alerts` only, lazily, for
the "send a test notification" button.
"""

"""The Streamlit dashboard: entry file, pages in app_pages/, data helpers and chart builders."""

"""The flext-quality dashboard (Streamlit entry file).

Started by ``flext-quality dashboard``, which passes the database path in
``FLEXT_QUALITY_DB`` and an optional settings file in ``FLEXT_QUALITY_CONFIG``. This entry
file is the only part of the dashboard that reads settings; pages get a
:class:`~dashboard.context.DashboardContext`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboard.context import DashboardContext, GateLine, set_context  # noqa: E402
from flext_quality.settings import Settings, load_settings  # noqa: E402
from storage.errors import ConfigError  # noqa: E402

PAGES = Path(__file__).resolve().parent / "app_pages"
FAVICON = Path(__file__).resolve().parent / "favicon.png"


def _settings(config: str | None, db: str | None) -> Settings:
    return load_settings(Path(config) if config else None, {"db": Path(db) if db else None})


def _context() -> DashboardContext:
    settings = _settings(os.environ.get("FLEXT_QUALITY_CONFIG"), os.environ.get("FLEXT_QUALITY_DB"))
    gates = tuple(
        GateLine(gate=g.gate_id, metric=g.metric, min=g.min, max=g.max, projects=tuple(g.projects),
                 rule=" ".join([g.rule, *([f"consecutive={g.consecutive}"] if g.consecutive > 1 else []),
                                *([f"tolerance={g.tolerance:g}"] if g.tolerance else [])]))
        for g in settings.gates
    )
    return DashboardContext(
        db=settings.db.resolve(),
        cache_ttl_s=settings.dashboard.cache_ttl_s,
        score_metric=settings.dashboard.score_metric,
        page_size=settings.dashboard.page_size,
        stale_after_days=settings.notify.stale_after_days,
        sql_timeout_s=settings.sql.timeout_s,
        sql_row_limit=settings.sql.row_limit,
        sql_memory_limit=settings.sql.memory_limit,
        sql_max_result_mb=settings.sql.max_result_mb,
        gates=gates,
        routes=tuple(settings.routes),
    )


# A file, not a Material icon: the browser would fetch that icon from fonts.gstatic.com.
st.set_page_config(page_title="flext-quality", page_icon=str(FAVICON), layout="wide")
try:
    set_context(_context())
except ConfigError as error:
    st.error(f"Bad configuration: {error}")
    st.stop()

navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES / "trends.py", title="Project trends", icon=":material/show_chart:"),
        st.Page(PAGES / "findings.py", title="Findings", icon=":material/bug_report:"),
        st.Page(PAGES / "gates.py", title="Gates and alerts", icon=":material/traffic:"),
        st.Page(PAGES / "runs.py", title="Runs", icon=":material/schedule:"),
        st.Page(PAGES / "sql.py", title="SQL", icon=":material/terminal:"),
    ]
)
navigation.run()

"""SQL: a read-only query editor over the public views, with examples, chart and downloads."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import query_chart
from dashboard.context import get_context
from dashboard.data_sql import (
    EXAMPLE_QUERIES,
    csv_bytes,
    csv_hint,
    parquet_bytes,
    readable,
    run_query,
    schema,
)
from dashboard.text import literal
from dashboard.ui import counted, version_or_stop
from storage.errors import DatabaseBusyError, SandboxError

ctx = get_context()
db, ttl = str(ctx.db), ctx.cache_ttl_s
st.title("SQL")
version = version_or_stop(ctx)
st.caption(
    f"Read-only: one SELECT at a time, no files or network, at most {ctx.sql_row_limit:,} rows, "
    f"{ctx.sql_timeout_s:g}s, {ctx.sql_memory_limit} of memory and {ctx.sql_max_result_mb:g} MB of "
    "result per query. "
    "The query is kept in the page address, so you can share the link. "
    "The views and their columns are in the sidebar."
)

# In the sidebar, so that the result always comes right under the query box.
with st.sidebar:
    st.markdown("**Views**")
    for view, columns in schema(db, version, ttl_s=ttl).items():
        with st.expander(view):
            st.dataframe(columns, hide_index=True, width="stretch")

example = st.selectbox("Examples", ["(choose an example)", *EXAMPLE_QUERIES], key="sql_example")
if example in EXAMPLE_QUERIES and st.session_state.get("sql_example_loaded") != example:
    st.session_state["sql_text"] = EXAMPLE_QUERIES[str(example)]
    st.session_state["sql_example_loaded"] = example
if "sql_text" not in st.session_state:
    st.session_state["sql_text"] = st.query_params.get("q", EXAMPLE_QUERIES["The metric catalogue"])
query = st.text_area("Query", key="sql_text", height=180)
run = st.button("Run query", type="primary", key="sql_run")

if run:
    st.query_params["q"] = query
    st.session_state["sql_ran"] = query
ran = st.session_state.get("sql_ran") or (st.query_params.get("q") if "q" in st.query_params else None)
if not ran:
    st.stop()

try:
    result = run_query(
        db,
        version,
        ran,
        timeout_s=ctx.sql_timeout_s,
        row_limit=ctx.sql_row_limit,
        memory_limit=ctx.sql_memory_limit,
        max_result_mb=ctx.sql_max_result_mb,
        ttl_s=ttl,
    )
except DatabaseBusyError as error:
    st.warning(literal(error))
    st.stop()
except SandboxError as error:
    # The message quotes the query, which may come from a shared link: shown as written (never
    # as Markdown, which would turn a crafted name into a link), DuckDB's caret line aligned.
    first, _, rest = str(error).partition("\n")
    st.error(literal(first))
    if rest.strip():
        st.code(rest.strip("\n"), language=None)
    st.stop()

frame = result.frame
st.success(
    f"{counted(frame.height, 'row')} · {counted(len(frame.columns), 'column')} · {result.elapsed_s:.2f}s"
)
if result.truncated:
    st.warning(
        f"Stopped at the row limit: only the first {result.row_limit:,} rows are shown and downloadable."
    )
shown = readable(frame)  # raw bytes (BLOB, VARIANT in a list, ...) as text
st.dataframe(shown, hide_index=True, width="stretch")
csv, parquet = csv_bytes(frame), parquet_bytes(frame)
downloads = st.columns(2)
downloads[0].download_button(
    "Download CSV", csv or b"", "query.csv", "text/csv", key="sql_csv", disabled=csv is None
)
downloads[1].download_button(
    "Download Parquet",
    parquet or b"",
    "query.parquet",
    "application/vnd.apache.parquet",
    key="sql_parquet",
    disabled=parquet is None,
)
if csv is None:
    st.caption(csv_hint(frame))

if shown.height and len(shown.columns) >= 2 and st.toggle("Chart", key="sql_chart"):
    numeric = [c for c, t in shown.schema.items() if t.is_numeric()]
    chart_cols = st.columns(3)
    kind = chart_cols[0].selectbox("Kind", ["line", "bar", "scatter"], key="sql_chart_kind")
    x = chart_cols[1].selectbox("X", shown.columns, key="sql_chart_x")
    y = chart_cols[2].multiselect(
        "Y", [c for c in numeric if c != x], default=[c for c in numeric if c != x][:1], key="sql_chart_y"
    )
    if y:
        st.plotly_chart(query_chart(shown, str(kind), str(x), y), width="stretch", key="sql_chart_fig")

"""Benchmark: gate evaluation and outbox delivery, against baselines measured in the same run.

1. **evaluation**: ``evaluate_run`` with 6 gates (absolute, previous, 7 days, baseline, a
   worsening rule and a stale-prone metric) on the newest run of one project in a store of
   ``projects x 16 metrics x days`` points; baseline: one read-only query of that run's
   measures (the least any evaluation must do).
2. **delivery**: flushing N queued messages through the outbox to a loopback ``json://``
   receiver; baseline: the same N messages sent by Apprise directly, without the outbox.

    python bench/bench_alerts.py [--projects 20] [--days 730] [--messages 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import apprise  # noqa: E402

from alerts.config import GateSpec, RouteSpec  # noqa: E402
from alerts.evaluate import AlertPolicy, evaluate_run  # noqa: E402
from alerts.messages import route_messages  # noqa: E402
from alerts.notify import DeliveryPolicy, Notifier  # noqa: E402
from storage.alert_store import enqueue_messages  # noqa: E402
from storage.demo import generate  # noqa: E402
from storage.models import MetricSpec  # noqa: E402
from storage.store import MetricStore  # noqa: E402

GATES = [
    GateSpec(metric="bandit.issues.high", max=0),
    GateSpec(metric="coverage.line_percent", min=60),
    GateSpec(metric="ruff.issues", max_increase=10),
    GateSpec(metric="ruff.issues", max_increase_percent=5, against="7d"),
    GateSpec(metric="quality.score", max_worsening=3, against="baseline"),
    GateSpec(metric="mypy.errors", max=50, consecutive=2),
]


def _receiver() -> tuple[ThreadingHTTPServer, list[int]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def bench_evaluation(store: MetricStore, repeats: int) -> None:
    run_id, project = store.fetch(
        "SELECT run_id, project FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    now = store.fetch("SELECT max(started_at) FROM runs")[0][0] + timedelta(hours=1)
    evaluate_run(store, run_id, gates=GATES, routes=[], policy=AlertPolicy(), now=now)  # warm
    base, full = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        store.fetch("SELECT metric, value FROM measures WHERE run_id = ?", [run_id])
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        evaluate_run(store, run_id, gates=GATES, routes=[], policy=AlertPolicy(), now=now)
        full.append(time.perf_counter() - t)
    b, f = statistics.median(base), statistics.median(full)
    print(f"evaluation of {len(GATES)} gates on {project}: median {f * 1000:.1f} ms "
          f"(read of the run's measures: {b * 1000:.1f} ms; ratio {f / b:.1f}x)")


def bench_delivery(store: MetricStore, n: int) -> None:
    server, hits = _receiver()
    url = f"json://127.0.0.1:{server.server_address[1]}/bench"
    routes = [RouteSpec(purpose="alerts", urls=[url])]
    start = store.fetch("SELECT max(started_at) FROM runs")[0][0]
    messages = [
        m for i in range(n) for m in route_messages(
            routes, purpose="alerts", project="bench", render=lambda fmt, i=i: (f"t{i}", f"b{i}"),
            dedup=f"bench-{i}", now=start)
    ]
    t = time.perf_counter()
    enqueue_messages(store, messages)
    queued = time.perf_counter() - t
    notifier = Notifier(store, routes, DeliveryPolicy(), clock=lambda: start)
    t = time.perf_counter()
    outcomes = notifier.flush()
    flushed = time.perf_counter() - t
    assert sum(o.ok for o in outcomes) == n and len(hits) == n
    t = time.perf_counter()
    for i in range(n):
        app = apprise.Apprise()
        app.add(url)
        app.notify(body=f"b{i}", title=f"t{i}")
    direct = time.perf_counter() - t
    server.shutdown()
    print(f"delivery of {n} messages: enqueue {queued * 1000:.0f} ms, flush {flushed:.2f} s "
          f"({n / flushed:.0f} msg/s); Apprise alone {direct:.2f} s ({n / direct:.0f} msg/s); "
          f"outbox overhead ratio {(queued + flushed) / direct:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = MetricStore(Path(tmp) / "bench.duckdb")
        data = generate(projects=args.projects, metrics=16, days=args.days)
        t = time.perf_counter()
        store.ingest_points(data.points, data.runs)
        store.write_catalogue([
            MetricSpec("quality.score", "points", "aim_high", "mean", "score"),
            MetricSpec("ruff.issues", "count", "aim_low", "sum", "ruff"),
        ])
        print(f"store: {data.points.height:,} points, {data.runs.height:,} runs "
              f"(ingested in {time.perf_counter() - t:.1f} s)")
        bench_evaluation(store, args.repeats)
        bench_delivery(store, args.messages)


if __name__ == "__main__":
    main()

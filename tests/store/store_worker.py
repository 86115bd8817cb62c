"""A separate process for the crash and concurrency tests (run as a script, not collected).

    store_worker.py block DB RUN_ID N      append a run of N measures and N findings, but stop
                                           inside the transaction (after every insert and the
                                           rollup update), print "inside" and wait to be killed
    store_worker.py write DB PREFIX N      append N runs of 5 measures, one after the other
    store_worker.py read DB                query the views until stdin is closed, print each
                                           count of runs seen, then "reads=K"
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from store_helpers import make_run

from storage.store import MetricStore

T0 = datetime(2026, 1, 1, 8, 0)


def block(db: Path, run_id: str, n: int) -> None:
    # The catalogue is the last thing append_run writes before COMMIT: every row of the run
    # and its rollup changes are in the open transaction when we stop there.
    original = MetricStore._upsert_catalogue

    def write_then_wait(self: MetricStore, con: object, catalogue: object) -> None:
        original(self, con, catalogue)  # type: ignore[arg-type]
        print("inside", flush=True)
        sys.stdin.read()  # the test kills us here, before COMMIT

    MetricStore._upsert_catalogue = write_then_wait  # type: ignore[method-assign]
    result = make_run("big", "c-big", {f"m{i:05d}": float(i) for i in range(n)}, T0,
                      run_id=run_id, findings=n)
    MetricStore(db).append_run(result)
    print("committed", flush=True)


def write(db: Path, prefix: str, n: int) -> None:
    store = MetricStore(db)
    for i in range(n):
        when = T0 + timedelta(hours=i)
        store.append_run(make_run(f"proj-{prefix}", f"{prefix}-{i}",
                                  {f"m{k}": float(i + k) for k in range(5)}, when,
                                  run_id=f"{prefix}-{i}", findings=1))
    print(f"wrote={n}", flush=True)


def read(db: Path) -> None:
    store = MetricStore(db)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    reads = 0
    while not done.is_set() or reads == 0:
        runs = store.fetch("SELECT count(*) FROM runs")[0][0]
        store.fetch("SELECT count(*), sum(n) FROM measures_daily")
        print(f"runs={runs}", flush=True)
        reads += 1
    print(f"reads={reads}", flush=True)


if __name__ == "__main__":
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "block":
        block(path, sys.argv[3], int(sys.argv[4]))
    elif mode == "write":
        write(path, sys.argv[3], int(sys.argv[4]))
    else:
        read(path)

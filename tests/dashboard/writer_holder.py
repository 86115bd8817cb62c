"""Hold a write transaction on a database until a line arrives on stdin (test helper process).

Prints ``holding`` once the writer connection is open, so the test knows the file is locked.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage.models import RunRecord, RunResult  # noqa: E402
from storage.store import MetricStore  # noqa: E402


def main() -> None:
    """Open a writer, announce it, wait for stdin, then store one run and let go."""
    store = MetricStore(Path(sys.argv[1]))
    with store.writer():
        print("holding", flush=True)
        sys.stdin.readline()
    when = datetime(2026, 11, 21, 9, 0)
    store.append_run(
        RunResult(
            run=RunRecord(
                run_id="held-1", project="held", started_at=when, finished_at=when, status="succeeded"
            ),
            measures={"quality.score": 50.0},
        )
    )
    print("stored", flush=True)


if __name__ == "__main__":
    main()

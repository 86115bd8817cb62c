"""Run every ``bench/bench_*.py`` script in turn and print its output (``make bench``).

Each script is a separate process, so one benchmark's memory and caches do not colour the
next one's figures. Extra arguments are passed to every script (e.g. ``--points-scale 0.1``
for a quick run of the store benchmark; scripts that do not know an option will fail).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(BENCH.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(script), *argv], check=False)
        print(f"== {script.name}: exit {done.returncode} after {time.perf_counter() - start:.0f}s\n",
              flush=True)
        if done.returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

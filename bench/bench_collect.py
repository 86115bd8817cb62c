"""Benchmark of ``collect`` on a real codebase (rich 15.0.0, ~38,500 lines, 100 files).

Prints, all measured in this run:
1. the same tool commands ``collect`` records, run one after another by hand (each timed);
2. ``collect`` wall time (tools concurrent), against the limit
   max(slowest single tool, sequential sum / cores) - target within 1.15x of it;
3. peak RSS of this process during ``collect`` (target < 300 MB);
4. the complexity worker against ``radon cc -j`` on the same files (target within 2x), and
   radon's own ``raw -j`` on the largest generated table file for contrast.

Usage: ``.venv/bin/python bench/bench_collect.py [--repeat N]`` (downloads the sdist once into
``bench/.work``). mypy runs cold each time (a fresh cache folder) in both arms.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectOptions  # noqa: E402
from collectors.pipeline import collect  # noqa: E402

WORK = ROOT / "bench" / ".work"
PACKAGE, VERSION = "rich", "15.0.0"
TOOLS = ["ruff", "mypy", "bandit", "complexity", "suppressions"]


def fetch() -> Path:
    archive = WORK / f"{PACKAGE}-{VERSION}.tar.gz"
    if not archive.is_file():
        WORK.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip"]
        if subprocess.run([*pip, "--version"], capture_output=True, check=False).returncode != 0:
            found = ROOT / ".cache" / "uv-tool" / "bin" / "pip"
            pip = [str(found)] if found.exists() else [shutil.which("pip3") or "pip"]
        subprocess.run(
            [*pip, "download", "--no-deps", "--no-binary", ":all:", f"{PACKAGE}=={VERSION}", "-d", str(WORK)],
            check=True,
            capture_output=True,
        )
    target = WORK / f"{PACKAGE}-{VERSION}"
    if not target.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(WORK, filter="data")
    return target


def timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the best of each arm is kept")
    args = parser.parse_args()
    project = fetch()
    cores = os.cpu_count() or 1
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*.py"))
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in project.rglob("*.py"))
    print(f"project: {PACKAGE} {VERSION}: {len(files)} files, {lines:,} lines; cores: {cores}")

    best_seq: dict[str, float] = {}
    best_collect = float("inf")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _round in range(args.repeat):
        cache = Path(tempfile.mkdtemp(prefix="fq-bench-"))
        options = CollectOptions(allowed_roots=(project,), concurrency=cores, cache_dir=cache)
        started = time.perf_counter()
        result = collect(project, project=PACKAGE, tools=TOOLS, options=options)
        best_collect = min(best_collect, time.perf_counter() - started)
        assert result.run.status == "succeeded", [(t.tool, t.error) for t in result.tools]
        shutil.rmtree(cache, ignore_errors=True)  # cold mypy for the by-hand arm too
        for record in result.tools:
            if record.command:
                spent = timed(list(record.command), project)
                best_seq[record.tool] = min(best_seq.get(record.tool, float("inf")), spent)
        shutil.rmtree(cache, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print("\nsequential, by hand (the recorded commands):")
    for tool, spent in sorted(best_seq.items(), key=lambda kv: -kv[1]):
        print(f"  {tool:12} {spent:7.2f} s")
    total = sum(best_seq.values())
    limit = max(max(best_seq.values()), total / cores)
    print(f"  {'sum':12} {total:7.2f} s")
    print(f"\ncollect (concurrent): {best_collect:.2f} s")
    print(f"limit max(slowest {max(best_seq.values()):.2f}, sum/cores {total / cores:.2f}) = {limit:.2f} s")
    print(f"ratio collect / limit: {best_collect / limit:.2f}  (target <= 1.15)")
    print(f"speed-up vs sequential sum: {total / best_collect:.2f}x")
    print(
        f"peak RSS of this process: {peak_mb:.0f} MB (before collect {rss_before / 1024:.0f} MB; "
        "target < 300 MB)"
    )

    worker = str(ROOT / "collectors" / "complexity_worker.py")
    radon = str(Path(sys.executable).parent / "radon")
    cc = min(timed([radon, "cc", "-j", *files], project) for _ in range(2))
    one = min(timed([sys.executable, worker, *files], project) for _ in range(2))
    many = min(timed([sys.executable, worker, "--jobs", str(cores), *files], project) for _ in range(2))
    print("\ncomplexity (cc + mi + raw) vs radon cc -j (cc only), same files:")
    print(f"  radon cc -j:             {cc:6.2f} s")
    print(f"  worker, 1 process:       {one:6.2f} s  ratio {one / cc:.2f}")
    print(f"  worker, {cores} processes:     {many:6.2f} s  ratio {many / cc:.2f}  (target <= 2)")
    # one of rich's generated unicode width tables: radon's raw counting is quadratic in
    # a statement's length (the 3,600-line emoji table would take minutes, so it is not used)
    table = "rich/_unicode_data/unicode15-0-0.py"
    raw_table = timed([radon, "raw", "-j", table], project)
    ours_table = timed([sys.executable, worker, table], project)
    print(
        f"  generated table {table}: radon raw -j {raw_table:.2f} s, worker (all metrics) {ours_table:.2f} s"
    )


if __name__ == "__main__":
    main()

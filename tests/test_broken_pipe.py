"""A reader that closes the pipe early (`flext-quality ... | head`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from storage.demo import generate
from storage.store import MetricStore


def test_a_closed_pipe_ends_the_command_quietly_as_sigpipe(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    data = generate(projects=2, metrics=4, days=30, seed=1)
    store.ingest_points(data.points, data.runs)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `| head -0` would be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flext_quality", "--db", str(store.path), "sql",
             "SELECT * FROM measures", "--format", "csv"],
            stdout=write_end, stderr=subprocess.PIPE, cwd=tmp_path, timeout=120, check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE  # as a Unix tool ended by SIGPIPE
    assert done.stderr == b""  # no traceback, no "Exception ignored" line


def test_a_reader_leaving_after_the_first_line_is_noticed(tmp_path: Path) -> None:
    """`| head -1`: the first pieces went out, the rest would be lost silently (exit 0)."""
    store = MetricStore(tmp_path / "q.duckdb")
    data = generate(projects=4, metrics=8, days=200, seed=1)  # a few hundred kilobytes of CSV
    store.ingest_points(data.points, data.runs)
    command = [sys.executable, "-m", "flext_quality", "--db", str(store.path)]
    for args in (["sql", "SELECT * FROM measures", "--format", "csv"],
                 ["sql", "SELECT * FROM measures", "--format", "json"],
                 ["sql", "SELECT * FROM measures"],
                 ["export", "measures", "-o", "/dev/stdout", "--format", "csv"]):
        writer = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  cwd=tmp_path)
        assert writer.stdout is not None and writer.stderr is not None
        first = writer.stdout.readline()
        writer.stdout.close()  # the reader goes away after one line
        errors = writer.stderr.read()
        assert writer.wait(timeout=120) == 128 + signal.SIGPIPE, (args, errors)
        assert first.strip() and errors == b"", (args, errors)


def test_output_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """A full disk (`> /dev/full`) or a closed standard output: one error line, exit 1."""
    store = MetricStore(tmp_path / "q.duckdb")
    data = generate(projects=2, metrics=4, days=30, seed=1)
    store.ingest_points(data.points, data.runs)
    command = [sys.executable, "-m", "flext_quality", "--db", str(store.path)]
    for args in (["sql", "SELECT * FROM measures", "--format", "csv"],
                 ["export", "measures", "-o", "/dev/stdout", "--format", "csv"],
                 ["report", "--all", "--format", "json"]):
        with open("/dev/full", "w", encoding="utf-8") as full:
            done = subprocess.run([*command, *args], stdout=full, stderr=subprocess.PIPE, cwd=tmp_path,
                                  timeout=120, check=False)
        lines = done.stderr.decode().strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, (args, done.stderr)
        assert lines[0].startswith("error: cannot write or read: No space left on device"), lines
    closed = subprocess.run([*command, "sql", "SELECT 1", "--format", "json"], stdout=None,
                            stderr=subprocess.PIPE, cwd=tmp_path, timeout=120, check=False,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 1
    assert closed.stderr.decode().strip() == (
        "error: standard output is closed: there is nowhere to print the result")


def test_ctrl_c_while_the_cli_loads_is_one_line_and_130() -> None:
    # A finder that raises KeyboardInterrupt when the CLI package is imported: Ctrl-C in the
    # second the imports take, made certain.
    script = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'flext_quality.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from flext_quality.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 130
    assert done.stderr == "interrupted\n"


def test_ctrl_c_while_duckdb_reads_our_data_is_interrupted_not_a_traceback() -> None:
    # DuckDB wraps an interrupt raised while it reads a registered frame in its own error (the
    # transaction is rolled back): the command still ends as Ctrl-C does.
    import click
    import duckdb
    import pyarrow as pa
    from click.testing import CliRunner

    from flext_quality.cli.common import FlextGroup

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"x": [1]})
        raise KeyboardInterrupt

    @click.group(cls=FlextGroup)
    def group() -> None:
        pass

    @group.command()
    def store() -> None:
        con = duckdb.connect()
        con.register("_run_df", pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), batches()))
        con.execute("CREATE TABLE t AS SELECT * FROM _run_df")

    done = CliRunner().invoke(group, ["store"])
    assert (done.exit_code, done.output) == (130, "interrupted\n")

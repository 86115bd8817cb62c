"""Running commands (with planted bandit findings)."""

import pickle
import subprocess

PASSWORD = "hunter2"


def run(command: str) -> str:
    """Run a shell command (planted B602, high severity)."""
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout


def evaluate(expression: str) -> object:
    """Evaluate an expression (planted B307)."""
    return eval(expression)


def load(blob: bytes) -> object:
    """Unpickle data (planted B301)."""
    return pickle.loads(blob)


def checked(value: int) -> int:
    """Assert in library code (planted B101)."""
    assert value > 0
    return value


def trusted() -> str:
    """A shell call the author marked as reviewed."""
    return subprocess.check_output("echo ok", shell=True, text=True)  # nosec B602

"""Byte-balanced splitting of a prewarm batch into one tool invocation per core."""

from __future__ import annotations

import random

from collectors.prewarm import balanced_parts


def test_parts_cover_every_file_once_and_are_near_equal() -> None:
    rng = random.Random(7)
    weights = {f"f{i}.py": rng.choice([200, 1_000, 5_000, 60_000]) for i in range(97)}
    parts = balanced_parts(weights, 3)
    assert len(parts) == 3
    assert sorted(f for part in parts for f in part) == sorted(weights)
    totals = [sum(weights[f] for f in part) for part in parts]
    assert totals == sorted(totals, reverse=True)  # heaviest first
    # greedy largest-first: no part exceeds another by more than the largest file
    assert totals[0] - totals[-1] <= max(weights.values())
    assert all(part == sorted(part) for part in parts)


def test_one_huge_file_gets_a_part_of_its_own() -> None:
    weights = {"big.py": 100, "a.py": 10, "b.py": 10, "c.py": 10}
    assert balanced_parts(weights, 2) == [["big.py"], ["a.py", "b.py", "c.py"]]
    assert balanced_parts(weights, 5) == [["big.py"], ["a.py"], ["b.py"], ["c.py"]]
    assert balanced_parts({}, 2) == []

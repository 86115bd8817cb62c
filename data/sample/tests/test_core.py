from samplepkg.branches import Shape, classify, simple
from samplepkg.core import average, collect


def test_average() -> None:
    assert average([1.0, 2.0, 3.0]) == 2.0
    assert average([]) == 0.0


def test_collect() -> None:
    assert collect("a", []) == ["a"]


def test_branches() -> None:
    assert classify(1, 1, 1, False, "x") == "ABCE"
    assert simple(2) == 4
    assert Shape(3).kind() == "triangle"

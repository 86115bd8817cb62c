"""A deliberately complex function (cyclomatic complexity above 10)."""


def classify(a: int, b: int, c: int, flag: bool, mode: str) -> str:
    """Classify inputs with too many branches."""
    result = ""
    if a > 0:
        result += "a"
    elif a < 0:
        result += "-a"
    if b > 0 and c > 0:
        result += "bc"
    elif b > 0 or c > 0:
        result += "b|c"
    for i in range(a):
        if i % 2 == 0:
            result += "e"
        elif i % 3 == 0:
            result += "t"
    while c > 100:
        c -= 7
        if flag:
            break
    if mode == "x":
        result = result.upper()
    elif mode == "y":
        result = result.lower()
    elif mode == "z":
        result = result[::-1]
    return result


def simple(x: int) -> int:
    """A simple function."""
    return x * 2


class Shape:
    """A class with two methods."""

    def __init__(self, sides: int) -> None:
        self.sides = sides

    def kind(self) -> str:
        """Name of the shape."""
        if self.sides == 3:
            return "triangle"
        if self.sides == 4:
            return "square"
        return "polygon"

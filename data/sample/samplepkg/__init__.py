"""A small package with planted problems for flext-quality's tests."""

from samplepkg.core import average, parse_level

__all__ = ["average", "parse_level"]

"""Complexity worker: cyclomatic complexity, maintainability index and raw line counts.

Run as ``python complexity_worker.py [--limit N] [--jobs N] FILE...`` in the project root; prints one
JSON object ``{file: result}``. Self-contained (standard library and radon only) so it can
run as a plain script in its own process, away from the collector's memory and GIL.

Definitions are radon's (``radon cc``, ``radon mi`` with its default ``multi``, ``radon
raw``), computed from **one** ``ast`` parse and **one** tokenization per file. Why not call
``radon.raw.analyze``: it strips every line and, for a statement spanning many lines, re-runs
the tokenizer on a buffer that grows one line at a time until it tokenizes, which is
quadratic in the statement's length - a 600-line generated table costs seconds. Here the
whole (stripped) text is tokenized once and split at the same statement boundaries radon
finds (a NEWLINE, or an NL outside brackets); each chunk is then counted exactly as radon
counts it. If the one-pass tokenization meets anything unusual (an error token or a
tokenizer error), radon's own function is used for that file, so results never differ.
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import re
import sys
import tokenize
from collections.abc import Sequence
from typing import Any

from radon.metrics import h_visit_ast, mi_compute
from radon.raw import Module, analyze
from radon.visitors import ComplexityVisitor, Function, HalsteadVisitor


def _visit_constant(self: ast.NodeVisitor, node: ast.Constant) -> None:
    self.generic_visit(node)


# ``ast.NodeVisitor.visit_Constant`` is a compatibility shim that looks for the old
# visit_Num/visit_Str methods on every constant; radon's visitors define none of them, so it
# always ends in ``generic_visit``. Going there directly gives the same numbers and is cheaper
# on literal-heavy files (this script normally runs in its own process).
ComplexityVisitor.visit_Constant = _visit_constant
HalsteadVisitor.visit_Constant = _visit_constant

__all__ = ["analyse_file", "analyse_source", "fast_raw", "main"]

_BRACKETS_OPEN = frozenset("([{")
_BRACKETS_CLOSE = frozenset(")]}")


_SKIP_LOGICAL = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE})
_TRAILING = frozenset({tokenize.NL, tokenize.NEWLINE})


class _Chunk:
    """Running counts of one statement chunk, enough to apply radon's rules to it."""

    __slots__ = ("code", "colon", "first_rows", "first_type", "logical", "n", "rest_is_trailing")

    def __init__(self) -> None:
        self.first_type = -1
        self.first_rows = (0, 0)
        self.rest_is_trailing = True
        self.logical = 0
        self._reset_sub()

    def _reset_sub(self) -> None:
        self.n = 0  # tokens kept by radon's _logical in the current ';'-separated part
        self.colon = -1  # index of the last ':' among them
        self.code = False  # any of them besides the end marker

    def add(self, token: tokenize.TokenInfo) -> None:
        kind = token.type
        if self.first_type == -1:
            self.first_type = kind
            self.first_rows = (token.start[0], token.end[0])
        elif kind not in _TRAILING:
            self.rest_is_trailing = False
        if kind == tokenize.OP and token.string == ";":
            self.close_sub(final=False)
            return
        if kind in _SKIP_LOGICAL:
            return
        if kind == tokenize.OP and token.string == ":":
            self.colon = self.n
        self.code = True
        self.n += 1

    def close_sub(self, *, final: bool) -> None:
        # radon's _logical on one ';'-separated part: it asks whether the last ':' is the
        # part's second-to-last token; only the final part carries the end marker.
        if self.colon >= 0:
            self.logical += 2 - (self.colon == self.n - (1 if final else 2))
        else:
            self.logical += 1 if self.code else 0
        self._reset_sub()


# A stripped line made only of these characters (no quotes, comment, backslash or semicolon)
# whose brackets close on the line is a complete statement by itself: it can be counted
# without the tokenizer.
_SIMPLE_LINE = re.compile(r"[\w \t.,=+\-*/%<>&|^~@:()\[\]{}]+")
_BRACKET = re.compile(r"[()\[\]{}]")


def _balanced(line: str) -> bool:
    depth = 0
    for bracket in _BRACKET.findall(line):
        depth += 1 if bracket in _BRACKETS_OPEN else -1
        if depth < 0:
            return False
    return depth == 0


class _Fallback(Exception):
    """The fast path met something unusual: use radon's own counting for this file."""


def fast_raw(source: str) -> Module:
    """``radon.raw.analyze(source)``, in time linear in the file's length.

    Lines are stripped as radon strips them. Blank lines, comment lines and simple one-line
    statements are counted directly; every other statement is tokenized once from its first
    line until it ends (a NEWLINE, or an NL outside brackets) - radon instead re-tokenizes a
    growing buffer once per line. Each statement is counted by radon's rules: a lone comment
    or a lone one-line string is a single comment line, a lone multi-line string is
    ``multi``, anything else is source; logical lines as in ``radon.raw._logical``.
    """
    lines = [line.strip() for line in source.splitlines()]
    try:
        return _count(lines)
    except _Fallback:
        return analyze(source)


def _count(lines: list[str]) -> Module:
    lloc = comments = single_comments = multi = blank = sloc = 0
    index, total = 0, len(lines)
    while index < total:
        line = lines[index]
        if not line:
            blank += 1
            index += 1
        elif line[0] == "#":
            comments += 1
            single_comments += 1
            index += 1
        elif ":=" not in line and _SIMPLE_LINE.fullmatch(line) and _balanced(line):
            sloc += 1
            # radon: 1 logical line, or 2 when a ':' is followed by more code on the line
            lloc += 2 if ":" in line and not line.endswith(":") else 1
            index += 1
        else:
            end, chunk, chunk_comments = _statement(lines, index)
            comments += chunk_comments
            parsed = lines[index:end]
            filled = sum(1 for text in parsed if text)
            if chunk.first_type == tokenize.COMMENT and chunk.rest_is_trailing:
                single_comments += 1
            elif chunk.first_type == tokenize.STRING and chunk.rest_is_trailing:
                if chunk.first_rows[0] == chunk.first_rows[1]:
                    single_comments += 1
                else:
                    multi += filled
                    blank += len(parsed) - filled
            else:
                sloc += filled
                blank += len(parsed) - filled
            lloc += chunk.logical
            index = end
    loc = sloc + blank + multi + single_comments
    return Module(loc, lloc, sloc, comments, multi, blank, single_comments)


def _statement(lines: list[str], first: int) -> tuple[int, _Chunk, int]:
    """Tokenize from line ``first`` until the statement ends; return (next line, chunk, comments)."""
    last = len(lines) - 1
    position = first

    def readline() -> str:
        nonlocal position
        if position > last:
            return ""
        text = lines[position] if position == last else lines[position] + "\n"
        position += 1
        return text

    chunk = _Chunk()
    depth = comments = 0
    tokens = tokenize.generate_tokens(readline)
    try:
        for token in tokens:
            kind = token.type
            if kind in (tokenize.ERRORTOKEN, tokenize.ENDMARKER):
                raise _Fallback
            chunk.add(token)
            if kind == tokenize.COMMENT:
                comments += 1
            elif kind == tokenize.OP:
                if token.string in _BRACKETS_OPEN:
                    depth += 1
                elif token.string in _BRACKETS_CLOSE:
                    depth -= 1
            elif kind == tokenize.NEWLINE or (kind == tokenize.NL and depth == 0):
                chunk.close_sub(final=True)
                return first + token.start[0], chunk, comments
    except (tokenize.TokenError, SyntaxError):
        raise _Fallback from None
    finally:
        tokens.close()
    raise _Fallback


def analyse_source(source: str) -> dict[str, Any]:
    """Complexity of one file's source: per-function CC, MI and raw counts (radon's numbers).

    A file nested too deeply for radon's recursive visitors (an expression of hundreds of
    terms) is an error of that file, as ``radon cc`` and ``radon mi`` report it: the other
    files are still measured.
    """
    try:
        return _analyse(source)
    except RecursionError:
        return {"error": "RecursionError: nested too deeply to measure (radon cc and mi fail on it too)"}


def _analyse(source: str) -> dict[str, Any]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    visitor = ComplexityVisitor.from_ast(tree)
    functions: list[dict[str, Any]] = []
    for block in visitor.blocks:
        if isinstance(block, Function):
            name = f"{block.classname}.{block.name}" if block.classname else block.name
            functions.append({"name": name, "line": block.lineno, "complexity": block.complexity})
    try:
        raw = fast_raw(source)
    except SyntaxError as error:  # radon's own raw analysis refuses some odd files
        return {"error": f"SyntaxError: {error}", "functions": functions}
    comment_lines = raw.comments + raw.multi  # radon mi's default counts docstrings too
    percent = comment_lines / float(raw.sloc) * 100 if raw.sloc != 0 else 0
    mi = mi_compute(h_visit_ast(tree).total.volume, visitor.total_complexity, raw.lloc, percent)
    return {
        "functions": functions,
        "mi": mi,
        "raw": {"loc": raw.loc, "lloc": raw.lloc, "sloc": raw.sloc, "comments": raw.comments,
                "multi": raw.multi, "blank": raw.blank, "single_comments": raw.single_comments},
    }


def analyse_file(path: str) -> dict[str, Any]:
    """:func:`analyse_source` on a file read as UTF-8 (as radon reads it by default)."""
    try:
        with open(path, encoding="utf-8") as handle:  # noqa: PTH123 - plain script, no pathlib needed
            source = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return analyse_source(source)


def _analyse_one(path: str) -> tuple[str, dict[str, Any]]:
    return path, analyse_file(path)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)  # noqa: PTH202 - plain script
    except OSError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Analyse the files named on the command line; print ``{file: result}`` as JSON.

    Options: ``--limit N`` (accepted for the record; the limit is applied by the collector),
    ``--jobs N`` worker processes (largest files first, so one big table does not finish last).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    jobs = 1
    while len(args) >= 2 and args[0] in ("--limit", "--jobs"):
        if args[0] == "--jobs":
            jobs = max(1, int(args[1]))
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    if jobs > 1 and len(args) > 1:
        ordered = sorted(args, key=_size, reverse=True)
        with multiprocessing.get_context("fork").Pool(min(jobs, len(args))) as pool:
            found = dict(pool.imap_unordered(_analyse_one, ordered))
        results = {path: found[path] for path in args}
    else:
        results = {path: analyse_file(path) for path in args}
    sys.stdout.write(json.dumps(results))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

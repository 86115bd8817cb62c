"""Complexity worker: cyclomatic complexity, maintainability index and raw line counts.

Run as ``python complexity_worker.py [--limit N] FILE...`` in the project root; prints one
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
import io
import json
import multiprocessing
import os
import sys
import tokenize
from collections.abc import Sequence
from typing import Any

from radon.metrics import h_visit_ast, mi_compute
from radon.raw import Module, _logical, analyze, is_single_token
from radon.visitors import ComplexityVisitor, Function, HalsteadVisitor


def _visit_constant(self: ast.NodeVisitor, node: ast.Constant) -> None:
    self.generic_visit(node)


# ``ast.NodeVisitor.visit_Constant`` is a compatibility shim that looks for the old
# visit_Num/visit_Str methods on every constant; radon's visitors define none of them, so it
# always ends in ``generic_visit``. Going there directly gives the same numbers and saves a
# third of the visiting time on literal-heavy files (this script runs in its own process).
ComplexityVisitor.visit_Constant = _visit_constant
HalsteadVisitor.visit_Constant = _visit_constant

__all__ = ["analyse_file", "analyse_source", "fast_raw", "main"]

_BRACKETS_OPEN = frozenset("([{")
_BRACKETS_CLOSE = frozenset(")]}")


def _chunks(lines: list[str]) -> list[tuple[int, int, list[tokenize.TokenInfo]]] | None:
    """Statement chunks (first line, last line, tokens) of the stripped lines, or None."""
    text = "\n".join(lines)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    chunks: list[tuple[int, int, list[tokenize.TokenInfo]]] = []
    depth = 0
    start = 1
    current: list[tokenize.TokenInfo] = []
    for token in tokens:
        kind = token.type
        if kind == tokenize.ERRORTOKEN:
            return None
        if kind == tokenize.ENDMARKER:
            break
        current.append(token)
        if kind == tokenize.OP:
            if token.string in _BRACKETS_OPEN:
                depth += 1
            elif token.string in _BRACKETS_CLOSE:
                depth -= 1
        elif kind == tokenize.NEWLINE or (kind == tokenize.NL and depth == 0):
            end = token.start[0]
            chunks.append((start, end, current))
            start, current = end + 1, []
    if current or depth:
        return None
    return chunks


def fast_raw(source: str) -> Module:
    """``radon.raw.analyze(source)``, in time linear in the file's length."""
    lines = [line.strip() for line in source.splitlines()]
    chunks = _chunks(lines)
    if chunks is None or (chunks and chunks[-1][1] < len(lines) - 1):
        return analyze(source)
    endmarker = tokenize.TokenInfo(tokenize.ENDMARKER, "", (0, 0), (0, 0), "")
    lloc = comments = single_comments = multi = blank = sloc = 0
    covered = 0
    for first, last, chunk in chunks:
        tokens = [*chunk, endmarker]
        parsed = lines[first - 1:last]
        covered = last
        comments += sum(1 for t in tokens if t.type == tokenize.COMMENT)
        if is_single_token(tokenize.COMMENT, tokens):
            single_comments += 1
        elif is_single_token(tokenize.STRING, tokens):
            if tokens[0].start[0] == tokens[0].end[0]:
                single_comments += 1
            else:
                multi += sum(1 for line in parsed if line)
                blank += sum(1 for line in parsed if not line)
        else:
            for line in parsed:
                if line:
                    sloc += 1
                else:
                    blank += 1
        lloc += _logical(tokens)
    # a trailing empty line with no token of its own: radon counts it as one blank line
    for line in lines[covered:]:
        if line:
            return analyze(source)
        blank += 1
    loc = sloc + blank + multi + single_comments
    return Module(loc, lloc, sloc, comments, multi, blank, single_comments)


def analyse_source(source: str) -> dict[str, Any]:
    """Complexity of one file's source: per-function CC, MI and raw counts (radon's numbers)."""
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

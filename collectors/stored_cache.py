"""The database-backed :class:`collectors.cache.FileCache` used by backfill (and by collect).

:class:`StoredFileCache` puts :class:`storage.blob_cache.BlobCache` (bulk DuckDB reads and
writes of JSON texts) behind the pipeline's ``FileCache`` protocol, with an in-process memo of
decoded results so a long backfill never reads or decodes the same entry twice.

Context-dependent tools. Some ruff results look beyond the file's bytes: ``INP001`` asks
whether the file's folder has an ``__init__.py``; isort's first-party detection (``I001``)
checks, for ``import a.b.c``, whether ``SRC/a/b/c`` is a folder or ``SRC/a/b/c.py(i)`` a file
under each ``src`` root (the *full* module path, not just the top-level name, so adding or
removing any module anywhere can change another file's result); ``per-file-ignores`` depend
on the path, the ``EXE`` rules on the executable bit, and nested ``pyproject.toml`` /
``ruff.toml`` files (or ``requires-python``, which sets the default target version) on the
configuration files' whole text. For such tools (``CONTEXT_TOOLS``) the key is not the bare
blob sha but the blob sha joined with a hash of the file's path and executable bit and of
the commit's *module layout* (:func:`layout_signature`: every folder, every ``.py``/``.pyi``
path and the content of every ruff configuration file), set per commit with :meth:`use_tree`
(or :meth:`use_directory` for a folder on disk). A blob that sits in two different contexts
in the same commit is not cached for that commit, nor is any file of a layout holding a
symlink that may be a module, a folder or a configuration file (its target may or may not
exist). So the cache stays exact; it serves a file again as long as no Python module was
added, removed or renamed and no ruff configuration changed, which is most consecutive
commits.

A project in a sub-folder of its repository (a monorepo's) also reads the ruff configuration
files of the folders above it, up to the repository root (:class:`OuterConfig`): their
contents and the project folder's place under them are part of the layout too (a root
``per-file-ignores`` names paths from the root; a root ``requires-python`` changes ruff's
target version without changing ``[tool.ruff]``, hence without changing ``config_hash``).
A project at the repository root has none, and its keys are what they always were.

Left out of the layout, because no import can reach them and discovery never analyses files
under them: hidden folders, ``__pycache__``, ``*.egg-info`` and virtual environments (folders
holding a ``pyvenv.cfg``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from collectors.cache import PerFileResult, blob_sha
from collectors.projectconfig import RUFF_CONFIG_NAMES, OuterConfig
from storage.blob_cache import BlobCache, CacheStats

__all__ = [
    "CONTEXT_TOOLS",
    "RUFF_CONFIG_NAMES",
    "StoredFileCache",
    "context_files",
    "context_stand_ins",
    "layout_contexts",
    "layout_signature",
]

CONTEXT_TOOLS: frozenset[str] = frozenset({"ruff"})

_MODULE_SUFFIXES = (".py", ".pyi")


def _unreachable_folder(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__" or name.endswith(".egg-info")


def _is_module(path: str) -> bool:
    return path.endswith(_MODULE_SUFFIXES)


class _Reach:
    """Which folders of a layout an import can reach (see the module docstring)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.venvs = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "pyvenv.cfg"}

    def folder(self, folder: str) -> bool:
        parts = PurePosixPath(folder).parts
        if any(_unreachable_folder(part) for part in parts):
            return False
        return not any("/".join(parts[: i + 1]) in self.venvs for i in range(len(parts)))

    def path(self, path: str) -> bool:
        parent = str(PurePosixPath(path).parent)
        return parent == "." or self.folder(parent)


def _relevant_link(path: str) -> bool:
    """Whether a symlink can change a context: a module, a configuration or a possible folder.

    A name with a dot that is neither can only be a non-module file, or a folder no import
    path can name (a module path component has no dot).
    """
    name = PurePosixPath(path).name
    return "." not in name or _is_module(name) or name in RUFF_CONFIG_NAMES


def _outer_entries(outer: OuterConfig | None) -> list[str] | None:
    """The layout signature's lines for the ruff configuration above the project folder.

    None when one of those files is a symlink (its target is not known here); none at all
    without such files, so a project at the repository root keeps the keys it always had.
    """
    if outer is None:
        return []
    if outer.linked:
        return None
    files = sorted((p, sha) for p, sha in outer.files.items() if PurePosixPath(p).name in RUFF_CONFIG_NAMES)
    return [f"p {outer.prefix}", *(f"o {p} {sha}" for p, sha in files)] if files else []


def _ancestors(paths: Iterable[str]) -> set[str]:
    return {str(parent) for p in paths for parent in PurePosixPath(p).parents if str(parent) != "."}


def layout_signature(
    blob_paths: Mapping[str, str],
    symlinks: Iterable[str] = (),
    folders: Iterable[str] | None = None,
    outer: OuterConfig | None = None,
) -> str | None:
    """A hash of everything outside a file that ruff may look at in this layout.

    ``blob_paths`` maps every file of the checkout (all of them, not only discovered ones) to
    its blob sha; what counts is every reachable folder, every module path and the content of
    every ruff configuration file, also above the project folder (``outer``). ``folders`` are
    the checkout's folders (default: the ancestors of the files, as in a git checkout). None
    when the layout holds a reachable symlink that may be a module, a folder or a
    configuration file (whether its target exists is not known here): context tools are then
    not cached at all.
    """
    reach = _Reach(blob_paths)
    if any(reach.path(link) and _relevant_link(link) for link in symlinks):
        return None
    above = _outer_entries(outer)
    if above is None:
        return None
    listed = _ancestors(blob_paths) if folders is None else set(folders)
    entries = [f"d {folder}" for folder in listed if reach.folder(folder)]
    entries += above
    for path, sha in blob_paths.items():
        if not reach.path(path):
            continue
        if PurePosixPath(path).name in RUFF_CONFIG_NAMES:
            entries.append(f"c {path} {sha}")
        elif _is_module(path):
            entries.append(f"m {path}")
    text = "\n".join(sorted(entries))
    return hashlib.sha1(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def _contexts(modules: Iterable[str], executable: Iterable[str], signature: str) -> dict[str, str]:
    runnable = set(executable)
    contexts: dict[str, str] = {}
    for path in modules:
        text = "\x1f".join((path, signature, "x" if path in runnable else "-"))
        digest = hashlib.sha1(text.encode("utf-8", "surrogateescape"), usedforsecurity=False)
        contexts[path] = digest.hexdigest()[:16]
    return contexts


def layout_contexts(
    paths: Iterable[str] | Mapping[str, str],
    executable: Iterable[str] = (),
    symlinks: Iterable[str] = (),
) -> dict[str, str]:
    """For each Python path, a short hash of what context-dependent rules may look at besides content.

    ``paths`` are the checkout's files (a ``{path: blob_sha}`` mapping, so that the ruff
    configuration files' contents count); ``executable`` the paths with the executable bit;
    ``symlinks`` the symlinks (any reachable one: no context, nothing cached).
    """
    blob_paths = dict(paths) if isinstance(paths, Mapping) else dict.fromkeys(paths, "")
    signature = layout_signature(blob_paths, symlinks)
    if signature is None:
        return {}
    return _contexts([p for p in blob_paths if _is_module(p)], executable, signature)


def context_stand_ins(paths: Iterable[str]) -> list[str]:
    """Empty files and folders (ending in ``/``) that reproduce a layout's module context.

    Every reachable folder and every ``.py``/``.pyi`` path: what isort's first-party detection
    and ``INP001`` test for existence (no file's lint reads another file's content).
    """
    listed = list(paths)
    reach = _Reach(listed)
    folders = {f"{f}/" for f in _ancestors(listed) if reach.folder(f)}
    return sorted({*folders, *(p for p in listed if _is_module(p) and reach.path(p))})


def context_files(blob_paths: Mapping[str, str]) -> dict[str, str]:
    """The layout's ruff configuration files at any depth, ``{path: blob_sha}`` (written for real)."""
    reach = _Reach(blob_paths)
    return {
        p: sha for p, sha in blob_paths.items()
        if PurePosixPath(p).name in RUFF_CONFIG_NAMES and reach.path(p)
    }


def _walk(root: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """A folder on disk as (config files with blob sha and module paths, folders, symlinks).

    Module paths get an empty sha (only their existence counts); unreachable folders and
    virtual environments are not entered, exactly as :class:`_Reach` leaves them out.
    """
    files: dict[str, str] = {}
    folders: list[str] = []
    symlinks: list[str] = []
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        relative = here.relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        keep: list[str] = []
        for name in dirnames:
            if _unreachable_folder(name) or (here / name / "pyvenv.cfg").is_file():
                continue
            if (here / name).is_symlink():
                symlinks.append(prefix + name)
                continue
            keep.append(name)
            folders.append(prefix + name)
        dirnames[:] = keep
        for name in filenames:
            target = here / name
            if target.is_symlink():
                symlinks.append(prefix + name)
            elif name in RUFF_CONFIG_NAMES:
                try:
                    files[prefix + name] = blob_sha(target.read_bytes())
                except OSError:
                    symlinks.append(prefix + name)  # unreadable: unknown context, never cache
            elif _is_module(name):
                files[prefix + name] = ""
    return files, folders, symlinks


class StoredFileCache:
    """A ``FileCache`` on the metric database, with a memo and per-commit layout context."""

    def __init__(self, blobs: BlobCache, *, memo_limit: int = 200_000) -> None:
        self.blobs = blobs
        self.memo_limit = memo_limit
        self._memo: dict[tuple[str, str, str, str], PerFileResult] = {}
        self._blob_key: dict[str, str] = {}
        self._ambiguous: set[str] = set()
        self._pending: dict[tuple[str, str, str], dict[str, str]] | None = None
        self.served = 0
        self.asked = 0

    @property
    def stats(self) -> CacheStats:
        """Database-level counts (hits served from the memo are in ``served``)."""
        return self.blobs.stats

    def use_tree(
        self,
        blob_paths: Mapping[str, str],
        executable: Iterable[str] = (),
        symlinks: Iterable[str] = (),
        outer: OuterConfig | None = None,
    ) -> None:
        """Set the layout of the commit being analysed.

        ``blob_paths``: every file of the commit's project folder, ``{path: blob_sha}``;
        ``executable``: paths with the executable bit; ``symlinks``: symlink paths; ``outer``:
        the ruff configuration files above the project folder. Until it is called (e.g. a
        plain ``collect``), context tools are not cached at all, which is always exact.
        """
        signature = layout_signature(blob_paths, symlinks, outer=outer)
        modules = [p for p in blob_paths if _is_module(p)]
        self._set(blob_paths, _contexts(modules, executable, signature) if signature else {})

    def use_directory(self, root: Path, files: Iterable[str]) -> None:
        """Set the layout from a folder on disk (for ``collect`` of a working tree).

        ``files`` are the discovered Python files (relative POSIX paths): the ones whose
        results may be asked for; their blob shas are computed from their bytes, as git would.
        The layout itself comes from walking ``root`` (all of it: excluded folders count too),
        with the ruff configuration files above it up to its repository root.
        """
        found, folders, symlinks = _walk(root)
        layout = dict(found)
        executable: list[str] = []
        wanted: dict[str, str] = {}
        for path in files:
            target = root / path
            try:
                wanted[path] = blob_sha(target.read_bytes())
                if target.stat().st_mode & stat.S_IXUSR:
                    executable.append(path)
            except OSError:
                continue
        outer = OuterConfig.on_disk(root, RUFF_CONFIG_NAMES)
        signature = layout_signature(layout, symlinks, folders, outer)
        contexts = _contexts(list(wanted), executable, signature) if signature else {}
        self._set(wanted, contexts)

    def _set(self, blob_paths: Mapping[str, str], contexts: Mapping[str, str]) -> None:
        keys: dict[str, set[str]] = {}
        ambiguous: set[str] = set()
        for path, sha in blob_paths.items():
            if not _is_module(path):
                continue
            if path not in contexts:
                ambiguous.add(sha)
                continue
            keys.setdefault(sha, set()).add(f"{sha}:{contexts[path]}")
        ambiguous |= {sha for sha, k in keys.items() if len(k) > 1}
        self._blob_key = {sha: next(iter(k)) for sha, k in keys.items() if sha not in ambiguous}
        self._ambiguous = ambiguous

    def key_for(self, tool: str, sha: str) -> str | None:
        """The cache key of blob ``sha`` for ``tool`` in the current layout (None: not cached)."""
        if tool not in CONTEXT_TOOLS:
            return sha
        if sha in self._ambiguous:
            return None
        return self._blob_key.get(sha)

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, PerFileResult]:
        """Known results by blob sha (the protocol's method)."""
        found: dict[str, PerFileResult] = {}
        to_read: dict[str, str] = {}
        for sha in dict.fromkeys(blob_shas):
            self.asked += 1
            key = self.key_for(tool, sha)
            if key is None:
                continue
            memo = self._memo.get((tool, tool_version, config_hash, key))
            if memo is not None:
                found[sha] = memo
            else:
                to_read[key] = sha
        if to_read:
            texts = self.blobs.get_many(tool, tool_version, config_hash, to_read)
            decoded = {key: PerFileResult.from_json(text) for key, text in texts.items()}
            self._remember(tool, tool_version, config_hash, decoded)
            for key, result in decoded.items():
                found[to_read[key]] = result
        self.served += len(found)
        return found

    def peek(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> set[str]:
        """Which of ``blob_shas`` are cached, without counting them as served (for prewarm)."""
        asked, served = self.asked, self.served
        known = set(self.get_many(tool, tool_version, config_hash, blob_shas))
        self.asked, self.served = asked, served
        return known

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        """Store new results by blob sha (the protocol's method)."""
        fresh: dict[str, PerFileResult] = {}
        for sha, result in results.items():
            key = self.key_for(tool, sha)
            if key is not None and (tool, tool_version, config_hash, key) not in self._memo:
                fresh[key] = result
        if not fresh:
            return
        payloads = {k: r.to_json() for k, r in fresh.items()}
        if self._pending is not None:
            self._pending.setdefault((tool, tool_version, config_hash), {}).update(payloads)
        else:
            self.blobs.put_many(tool, tool_version, config_hash, payloads)
        self._remember(tool, tool_version, config_hash, fresh)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect every :meth:`put_many` inside the block and store them in one write at its end.

        Results are served from the memo meanwhile. An exception drops nothing already
        analysed: what was collected is still written.
        """
        if self._pending is not None:  # nested: the outer block writes
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            self.blobs.put_groups(pending)

    def _remember(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        if len(self._memo) + len(results) > self.memo_limit:
            self._memo.clear()
        for key, result in results.items():
            self._memo[(tool, tool_version, config_hash, key)] = result

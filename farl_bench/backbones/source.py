"""The identity of user code: a digest of the Python package that defines an object, so a backbone
made by your code (a `py:` factory, a plug-in kind) becomes a new backbone whenever that code changes."""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from pathlib import Path
from typing import Any, Iterator

#: (path, inode, size, mtime_ns) -> sha256 of the file: each file is read once per process while unchanged.
_FILE_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def package_digest(*objects: Any) -> str:
    """sha256 over every .py file of the top-level packages that define `objects` (modules, functions,
    classes): their paths relative to the package, sorted, and their bytes. A module outside any
    package counts as its own file. Moving the package elsewhere keeps the digest."""
    digest = hashlib.sha256()
    for top in sorted({top_level_package(obj) for obj in objects}):
        digest.update(f"package {top}\n".encode())
        for relative, path in _python_files(importlib.import_module(top)):
            digest.update(f"{relative} {_file_digest(path)}\n".encode())
    return digest.hexdigest()


def top_level_package(obj: Any) -> str:
    """The name of the top-level package (or module) that defines `obj`."""
    name = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None) or type(obj).__module__
    return name.partition(".")[0]


def _python_files(module: Any) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of the module's sources: every .py under each folder of a package."""
    folders = list(getattr(module, "__path__", []))
    if not folders:
        if getattr(module, "__file__", None):  # None for built-in modules: nothing of ours to read
            yield Path(module.__file__).name, Path(module.__file__)
        return
    for i, folder in enumerate(folders):  # a namespace package may span several folders
        for path in sorted(Path(folder).rglob("*.py")):
            yield f"{i}/{path.relative_to(folder).as_posix()}", path


def _file_digest(path: Path) -> str:
    try:
        st = os.stat(path)
        stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp not in _FILE_DIGESTS:
            _FILE_DIGESTS[stamp] = hashlib.sha256(path.read_bytes()).hexdigest()
        return _FILE_DIGESTS[stamp]
    except OSError:  # removed or unreadable now: Python could not import it either
        return "unreadable"

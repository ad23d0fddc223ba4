"""One small name -> object registry, with did-you-mean errors and entry-point plug-ins."""
from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

from farl_bench.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Objects registered by name.

    `builtins` is a module imported on first use (it registers the built-in objects), and
    `entry_point_group` names the plug-in group whose entry points are loaded and registered
    under their entry-point name.
    """

    def __init__(self, kind: str, builtins: str, entry_point_group: str | None = None):
        self.kind = kind
        self._builtins = builtins
        self._group = entry_point_group
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        importlib.import_module(self._builtins)
        if self._group:
            for ep in entry_points(group=self._group):
                if ep.name not in self._items:
                    self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}."
            )
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items


DATASETS: Registry = Registry("dataset", "farl_bench.data.readers", "farl_bench.datasets")
FAMILIES: Registry = Registry("family", "farl_bench.families", "farl_bench.families")
BACKBONES: Registry = Registry("backbone kind", "farl_bench.backbones", "farl_bench.backbones")
PROTOCOLS: Registry = Registry("protocol", "farl_bench.engine", None)

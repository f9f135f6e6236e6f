"""Package attributes that import their module on first use (PEP 562).

A package's light modules (configs that recipes subclass, exam settings) then import without the heavy
siblings the package also exports (trainers, models).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, sources: dict[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` serving `name` from the submodule `sources[name]` of `package`."""

    def __getattr__(name: str):
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{sources[name]}", package), name)

    return __getattr__

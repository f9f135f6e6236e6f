"""Run a callback right after a module is first imported (or at once if it already is).

`import xuanyuan` must register the model classes with transformers' Auto classes, but that registration
imports torch and transformers (~5 s on 2 cores). Tools that never touch a model (the pipeline runner,
report and statistics scripts) import the package for its small helpers, so the registration waits until
transformers itself is imported. The standard library has no post-import hook; this is one meta-path finder
that wraps the module's own loader until it has run.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, callback: Callable[[], object]):
        self.name, self.callback = name, callback
        self._searching = threading.local()  # per thread: a probe elsewhere must not hide the module here

    def find_spec(self, fullname, path=None, target=None):
        # Libraries probe with `importlib.util.find_spec` without importing, so every spec handed out is
        # wrapped, and the finder leaves only when the module has really been executed.
        if fullname != self.name or getattr(self._searching, "now", False):
            return None
        self._searching.now = True
        try:
            spec = importlib.util.find_spec(fullname)  # the real spec, from the finders after this one
        finally:
            self._searching.now = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
                self.callback()

        spec.loader.exec_module = exec_module  # this spec's own loader object: other modules are untouched
        return spec


def call_after_import(name: str, callback: Callable[[], object]) -> None:
    """`callback()` once top-level module `name` has been imported: now if it already is, else right after
    its first import finishes (an error in the callback is raised by that import)."""
    if name in sys.modules:
        callback()
    elif not any(isinstance(f, _AfterImport) and f.name == name and f.callback == callback for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))

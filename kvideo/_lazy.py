"""Lazy re-exports for package ``__init__`` modules (PEP 562).

`train_main.py --help`, flag errors and the model registry must answer without loading
TensorFlow (seconds of start-up). Packages whose public names live in TensorFlow-heavy
modules therefore import those modules on first use of a name, not at package import::

    __getattr__, __dir__ = lazy_exports(__name__, {"make_clip_dataset": "kvideo.data.pipeline"})

Each package also imports the same names under ``typing.TYPE_CHECKING`` so that editors
and type checkers still see them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package` that import `exports[name]` on first use.

    Args:
        package: the package's ``__name__``.
        exports: ``{public name: module that defines it}``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def after_import(name: str, callback: Callable[[], None]) -> None:
    """Calls `callback` once module `name` has been imported (now, if it already is).

    A finder at the front of `sys.meta_path` wraps the loader of every spec it is asked
    for, so the callback runs right after the module's own code, whoever imports it
    first. It stays until the module has really been executed: some code looks a module
    up with `importlib.util.find_spec` without importing it (TensorFlow does so for Keras).
    """
    if name in sys.modules:
        callback()
        return

    class _Finder(importlib.abc.MetaPathFinder):
        looking = False

        def find_spec(self, fullname, path, target=None):
            if fullname != name or self.looking:
                return None
            self.looking = True  # the lookup below asks the meta path again
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                self.looking = False
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_then_call(module):
                exec_module(module)
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                    callback()

            spec.loader.exec_module = exec_then_call
            return spec

    sys.meta_path.insert(0, _Finder())

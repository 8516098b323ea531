"""A registry of model backends: import on first use, one instance per process and options, loads counted.

Loading models is slow, so a worker keeps each backend for its whole life;
tests read :meth:`BackendRegistry.model_loads` to check two jobs shared one load.
"""
from __future__ import annotations

import importlib
import threading
from collections import Counter
from typing import Any


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class BackendRegistry:
    """``name -> "module:factory"``; modules are imported only when a backend is requested."""

    def __init__(self, kind: str, backends: dict[str, str]):
        self.kind, self.backends = kind, backends
        self.load_counts: Counter = Counter()
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str = "offline", **options: Any):
        """The process-wide instance of backend ``name`` built with ``options`` (loaded on first use)."""
        if name not in self.backends:
            raise ValueError(
                f"Unknown {self.kind} backend {name!r}. Choose one of: {', '.join(sorted(self.backends))}."
            )
        key = (name, _freeze(options))
        with self._lock:
            backend = self._cache.get(key)
            if backend is None:
                module_name, factory = self.backends[name].split(":")
                backend = getattr(importlib.import_module(module_name), factory)(**options)
                self._cache[key] = backend
                self.load_counts[name] += 1
            return backend

    def model_loads(self, name: str | None = None) -> int:
        """How many times models were loaded in this process (for one backend, or in total)."""
        return self.load_counts[name] if name else sum(self.load_counts.values())

    def clear(self) -> None:
        """Forget loaded backends (frees their memory on the next garbage collection)."""
        with self._lock:
            self._cache.clear()

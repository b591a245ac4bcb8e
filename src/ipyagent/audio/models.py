"""Lazy loading of heavy models: loaded once, on first use, in whatever worker thread asks first,
announcing progress through a status callback ("loading speech recognition (tiny.en)…")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Status = Callable[[str], None]


class Lazy(Generic[T]):
    """``get()`` builds the value on first call (thread-safe) and then returns it.

    A failed load is remembered and raised again with the same message, not retried in a loop.
    """

    def __init__(self, what: str, build: Callable[[], T], status: Status | None = None) -> None:
        self.what = what
        self._build = build
        self.status: Status = status or (lambda _: None)
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                if self._error is not None:
                    raise self._error
                self.status(f"loading {self.what}…")
                try:
                    self._value = self._build()
                except Exception as exc:
                    self._error = exc
                    self.status(f"could not load {self.what}: {exc}")
                    raise
                self.status(f"{self.what} ready")
            return self._value

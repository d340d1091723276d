"""Rendered replies of answers the services keep (``bot.services.read_cache``).

A kept answer is the same object until the database changes, and rendering is pure, so the
HTML (and keyboard) made from it is kept beside it: keyed by the answer's identity and the
reply language, holding the answer itself so that its id cannot be reused by another object.
A new answer (the database changed) is a new object: rendered afresh. Bounded (least recently
used out first). Only for renderings without side effects (no per-chat state).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, TypeVar

_R = TypeVar("_R")
KEPT_REPLIES: Final = 256


class ReplyMemo:
    def __init__(self, max_entries: int = KEPT_REPLIES) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[int, str, str], tuple[object, Any]] = OrderedDict()

    def get(self, answer: object, lang: str, kind: str, make: Callable[[], _R]) -> _R:
        """``make()``'s result for ``answer`` rendered as ``kind`` in ``lang``."""
        key = (id(answer), lang, kind)
        found = self._entries.get(key)
        if found is not None and found[0] is answer:
            self._entries.move_to_end(key)
            kept: _R = found[1]
            return kept
        value = make()
        self._entries[key] = (answer, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

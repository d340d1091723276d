"""In-memory publisher that records calls and fails on a script (procrastinate-style fake)."""

from __future__ import annotations

from collections import deque

from bot.publish.base import Outgoing, Sent


class ScriptedPublisher:
    """``script``: outcomes for the next calls; an exception is raised, ``None`` succeeds.
    ``accept_then_fail``: record the post as published, then raise (outcome unknown)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.script: deque[BaseException | None] = deque()
        self.calls: list[tuple[str, int]] = []
        self.published: list[tuple[str, int, str]] = []

    async def send(self, destination: str, post: Outgoing) -> Sent:
        self.calls.append((destination, post.post_id))
        outcome = self.script.popleft() if self.script else None
        if outcome is not None:
            raise outcome
        text = post.x_text if self.name == "x" else post.telegram.text
        self.published.append((destination, post.post_id, text))
        return Sent(f"{self.name}-{len(self.published)}")

    async def close(self) -> None:
        return None

    def posts(self) -> list[int]:
        return [post_id for _, post_id, _ in self.published]

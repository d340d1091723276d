"""Console adapter for dry runs and the demo: prints what would be posted."""

from __future__ import annotations

from itertools import count

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.publish.base import Outgoing, Sent


class ConsolePublisher:
    def __init__(self, name: str, console: Console | None = None) -> None:
        self.name = name
        # stderr: stdout carries the command's own result (and --json documents)
        self._console = console or Console(stderr=True, highlight=False)
        self._ids = count(1)
        self.sent: list[tuple[str, str]] = []

    async def send(self, destination: str, post: Outgoing) -> Sent:
        body = (post.x_text or "") if self.name == "x" else post.telegram.text
        self.sent.append((destination, body))
        title = f"{destination} · post {post.post_id}"
        self._console.print(Panel(Text(body), title=title, expand=False))
        return Sent(f"console-{next(self._ids)}")

    async def close(self) -> None:
        return None

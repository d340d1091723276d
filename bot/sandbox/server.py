"""Run a fake server on 127.0.0.1: async context manager or background thread.

``async with running(app) as base_url:`` serves `app` on the current event loop
(port 0 = ephemeral).  :class:`ServerThread` serves it on its own loop in a
daemon thread, for sync code such as tweepy or subprocess tests::

    with ServerThread(make_x_app(state)) as base_url:
        ...
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

HOST = "127.0.0.1"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start(app: web.Application, host: str = HOST, port: int = 0) -> tuple[web.AppRunner, str]:
    """Start serving; returns the runner (call ``await runner.cleanup()``) and base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    sock = _bind(host, port)
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    bound_port = sock.getsockname()[1]
    return runner, f"http://{host}:{bound_port}"


@asynccontextmanager
async def running(app: web.Application, host: str = HOST, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` for the duration of the block; yields ``http://127.0.0.1:PORT``."""
    runner, base_url = await start(app, host, port)
    try:
        yield base_url
    finally:
        await runner.cleanup()


class ServerThread:
    """Serve an aiohttp app from a daemon thread with its own event loop."""

    def __init__(self, app: web.Application, host: str = HOST, port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self, timeout: float = 10.0) -> str:
        """Start the thread and server; returns the base URL."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start(self.app, self.host, self.port), self._loop)
        self._runner, self.base_url = future.result(timeout)
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down and join the thread (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(timeout)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._loop.is_closed() and not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

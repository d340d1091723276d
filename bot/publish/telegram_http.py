"""PTB's HTTP requests over aiohttp: the bot's Bot API calls (sends, replies, edits).

PTB's default backend (httpx + httpcore) costs about 2 ms of CPU per request on this machine
with 16 requests in flight, most of it in httpcore's connection pool (every request walks
every pooled connection, and probes each idle one with two system calls); aiohttp, already a
dependency, does the same request in about 0.3 ms. PTB keeps everything else: building the
request, reading the answer, and mapping Bot API errors (``RetryAfter``, ``Forbidden``,
``ChatMigrated``, ``BadRequest``) from the status and the JSON body, in
``BaseRequest._request_wrapper``. Long polling (``getUpdates``) keeps PTB's own request.

Parameters go as a JSON body, the values as PTB encodes them for a form (objects as JSON
text), which the Bot API reads the same: ``json.dumps`` is C code, where URL-encoding a long
message text byte by byte took a tenth of a send's CPU. Uploads stay multipart.

Timeouts: ``connect`` for making a connection, ``pool`` for waiting for a free one, ``read``
for the answer; aiohttp has no write timeout (a request body is small, and uploads are few).
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.logs import redact

JSON = {"Content-Type": "application/json"}
NEVER_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def never_sent(cause: BaseException) -> bool:
    """An aiohttp failure that happened before the request could leave (no connection made,
    or none free in time); anything later (a read timeout, a dropped connection) may have
    reached the server."""
    return isinstance(cause, NEVER_SENT)


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` on one :class:`aiohttp.ClientSession`."""

    __slots__ = ("_connect", "_pool", "_read", "_session", "_size")

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._size = connection_pool_size
        self._connect = connect_timeout
        self._read = read_timeout
        self._pool = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size),
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()
        assert self._session is not None
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's ``connect`` covers waiting for a pooled connection and making one
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        body: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] | None = None
        if request_data is not None and request_data.contains_files:
            body = _form(request_data)
        elif request_data is not None and request_data.parameters:
            body, headers = request_data.json_payload, JSON
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut(
                "no connection to the Bot API in time: the request was not sent"
            ) from exc
        except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # some aiohttp errors quote the URL, which holds the bot token
            reason = redact(str(exc).replace(url, "<Bot API URL>"))
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {reason}") from exc


def _form(request_data: RequestData) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form

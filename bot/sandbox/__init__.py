"""Strict fake Telegram Bot API and X API v2 servers for tests and demos.

Quick use::

    state = TelegramState(chats={"@mychannel"}, users={42})  # where the bot may write
    async with running(make_telegram_app(state)) as base:
        bot = telegram.Bot(token, base_url=f"{base}/bot")

    with ServerThread(make_x_app(XState())) as base:
        route_client(tweepy_client, base)   # bot.publish.x_session

Both serve ``/_inbox`` (HTML) and ``/_inbox.json``: what was posted.
"""

from bot.sandbox.faults import Fault, FaultInjector, FaultKind
from bot.sandbox.server import ServerThread, running
from bot.sandbox.spec import TelegramSpec, load_spec
from bot.sandbox.telegram_api import make_telegram_app
from bot.sandbox.telegram_state import RejectedRequest, SentMessage, TelegramState
from bot.sandbox.x_api import XPost, XRejected, XState, make_x_app

__all__ = [
    "Fault",
    "FaultInjector",
    "FaultKind",
    "RejectedRequest",
    "SentMessage",
    "ServerThread",
    "TelegramSpec",
    "TelegramState",
    "XPost",
    "XRejected",
    "XState",
    "load_spec",
    "make_telegram_app",
    "make_x_app",
    "running",
]

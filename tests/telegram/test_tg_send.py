"""``bot.telegram.send``: the very request PTB's ``reply_text`` / ``edit_message_text`` send
(same endpoint, same JSON) in every kind of chat, without building the answer's Message; and
Telegram's errors still arrive as PTB's exceptions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from telegram import (
    CallbackQuery,
    Chat,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter
from telegram.ext import Defaults, ExtBot
from telegram.request import BaseRequest, RequestData

from bot.telegram.send import as_dict, edit_html, send_html
from tests.builders import TELEGRAM_TOKEN

#: pytest restores the warning filters after collection: the module's own filter is gone
pytestmark = pytest.mark.filterwarnings("ignore:Please use 'Bot.:telegram.warnings.PTBUserWarning")

ANSWER = {
    "message_id": 99,
    "date": 1_700_000_000,
    "chat": {"id": 5, "type": "private", "first_name": "U"},
    "text": "answer",
    "entities": [{"type": "bold", "offset": 0, "length": 3}],
}


class Recorder(BaseRequest):
    """Records (endpoint, parameters); answers ``reply`` (a result or an error object)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reply: dict[str, Any] = {"ok": True, "result": ANSWER}

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        parameters = json.loads(request_data.json_payload) if request_data else {}
        self.calls.append((url.rsplit("/", 1)[-1], parameters))
        status = 200 if self.reply.get("ok") else self.reply.get("error_code", 400)
        return status, json.dumps(self.reply).encode()


def make_bot(defaults: Defaults | None = None) -> tuple[ExtBot[None], Recorder]:
    recorder = Recorder()
    bot: ExtBot[None] = ExtBot(TELEGRAM_TOKEN, request=recorder, defaults=defaults)
    return bot, recorder


CHATS: dict[str, dict[str, Any]] = {
    "private": {"chat": {"id": 5, "type": "private", "first_name": "U"}},
    "group": {"chat": {"id": -100, "type": "supergroup", "title": "G"}},
    "forum topic": {
        "chat": {"id": -200, "type": "supergroup", "title": "F", "is_forum": True},
        "message_thread_id": 17,
        "is_topic_message": True,
    },
    "reply chain in a group": {
        "chat": {"id": -300, "type": "group", "title": "G"},
        "message_thread_id": 3,
    },
    "business": {
        "chat": {"id": 6, "type": "private", "first_name": "B"},
        "business_connection_id": "bc-1",
    },
}
MARKUP = InlineKeyboardMarkup([[InlineKeyboardButton("« W09", callback_data="1|w|2026-W09")]])
NO_PREVIEW_JSON = {"is_disabled": True}


def message(bot: ExtBot[None], kind: str) -> Message:
    data = {
        "message_id": 41,
        "date": 1_700_000_000,
        "from": {"id": 5, "is_bot": False, "first_name": "U"},
        "text": "/week",
        **CHATS[kind],
    }
    return Message.de_json(data, bot)


@pytest.mark.parametrize("kind", list(CHATS))
@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize("markup", [None, MARKUP])
async def test_the_same_request_as_reply_text(
    kind: str, preview: bool, markup: InlineKeyboardMarkup | None
) -> None:
    options = None if preview else LinkPreviewOptions(is_disabled=True)
    bot, recorder = make_bot()
    sent = message(bot, kind)
    answer = await sent.reply_text(
        "<b>hi</b>", parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=options
    )
    assert isinstance(answer, Message)
    raw = await send_html(sent, "<b>hi</b>", markup, options)
    assert raw == ANSWER  # the answer as Telegram sent it: no Message built
    [(endpoint, by_ptb), (ours_endpoint, ours)] = recorder.calls
    assert (ours_endpoint, ours) == (endpoint, by_ptb)
    assert endpoint == "sendMessage"


@pytest.mark.parametrize("do_quote", [True, False])
async def test_the_bots_quote_default_is_followed(do_quote: bool) -> None:
    bot, recorder = make_bot(Defaults(do_quote=do_quote))
    for kind in ("private", "group"):
        sent = message(bot, kind)
        await sent.reply_text("x", parse_mode=ParseMode.HTML, reply_markup=None)
        await send_html(sent, "x", None, None)
    pairs = list(zip(recorder.calls[::2], recorder.calls[1::2], strict=True))
    assert all(ptb == ours for ptb, ours in pairs)
    assert ("reply_parameters" in recorder.calls[0][1]) is do_quote


def press(bot: ExtBot[None], kind: str, inline: bool = False) -> CallbackQuery:
    data: dict[str, Any] = {
        "id": "cq1",
        "from": {"id": 5, "is_bot": False, "first_name": "U"},
        "chat_instance": "i",
        "data": "1|w|2026-W09",
    }
    if inline:
        data["inline_message_id"] = "inline-7"
    else:
        data["message"] = {
            "message_id": 42,
            "date": 1_700_000_000,
            "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
            "text": "old",
            **CHATS[kind],
        }
    return CallbackQuery.de_json(data, bot)


@pytest.mark.parametrize(
    ("kind", "inline"), [("private", False), ("business", False), ("private", True)]
)
async def test_the_same_edit_as_edit_message_text(kind: str, inline: bool) -> None:
    bot, recorder = make_bot()
    query = press(bot, kind, inline)
    options = LinkPreviewOptions(is_disabled=True)
    await query.edit_message_text(
        "<b>new</b>", parse_mode=ParseMode.HTML, reply_markup=MARKUP, link_preview_options=options
    )
    await edit_html(query, "<b>new</b>", MARKUP, options)
    [(endpoint, by_ptb), ours] = recorder.calls
    assert ours == (endpoint, by_ptb) and endpoint == "editMessageText"


async def test_an_inaccessible_message_cannot_be_edited() -> None:
    bot, recorder = make_bot()
    chat = Chat(5, "private")
    query = CallbackQuery("cq2", User(5, "U", False), "i", message=InaccessibleMessage(chat, 1))
    query.set_bot(bot)
    with pytest.raises(TypeError, match="inaccessible"):
        await query.edit_message_text("x")
    with pytest.raises(TypeError, match="inaccessible"):
        await edit_html(query, "x", None, None)
    assert recorder.calls == []


async def test_errors_are_ptbs_exceptions() -> None:
    bot, recorder = make_bot()
    sent = message(bot, "private")
    recorder.reply = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    with pytest.raises(RetryAfter) as exc:
        await send_html(sent, "x", None, None)
    assert exc.value.retry_after in (3, 3.0) or exc.value.retry_after.total_seconds() == 3  # type: ignore[union-attr]
    recorder.reply = {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message is not modified",
    }
    with pytest.raises(BadRequest, match="not modified"):
        await edit_html(press(bot, "private"), "x", None, None)


def test_keyboards_go_out_as_dicts_kept_per_object() -> None:
    first = as_dict(MARKUP)
    assert first == MARKUP.to_dict() and as_dict(MARKUP) is first
    same_buttons = InlineKeyboardMarkup(
        [[InlineKeyboardButton("« W09", callback_data="1|w|2026-W09")]]
    )
    other = as_dict(same_buttons)  # an equal keyboard, another object: its own dict
    assert other == first and other is not first
    assert as_dict(None) is None

"""The fakes are as strict as the real APIs where it matters: unknown chats, users who never
started the bot, wrong tokens and credentials, and the parameters of the Boolean methods.
The Telegram checks run twice: against the full shared spec and against the built-in one."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram
import tweepy
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken

from bot.publish.x_session import route_client
from bot.sandbox import TelegramState, XState, make_telegram_app, make_x_app, running
from bot.sandbox.clock import FakeClock
from bot.sandbox.spec import (
    BUILTIN_METHODS,
    DEFAULT_PATH,
    TelegramSpec,
    builtin_spec,
    load_spec,
    subset,
)
from tests.builders import TELEGRAM_TOKEN, X_KEYS

NEEDS_SPEC = f"needs ../shared/specs/telegram-bot-api.json beside the checkout ({DEFAULT_PATH})"
CHANNEL = "@strict_channel"
USER = 42
OTHER_TOKEN = "987654321:AAHanotherWellFormedTokenButNotOurs_01"


def full_spec() -> TelegramSpec:
    spec = load_spec(DEFAULT_PATH)
    if spec.builtin:
        pytest.skip(NEEDS_SPEC)
    return spec


@pytest.fixture(params=["full", "builtin"])
def spec(request: pytest.FixtureRequest) -> TelegramSpec:
    return full_spec() if request.param == "full" else builtin_spec()


@pytest.fixture
def state(spec: TelegramSpec) -> TelegramState:
    return TelegramState(
        clock=FakeClock(), chats={CHANNEL}, users={USER}, valid_tokens={TELEGRAM_TOKEN}
    )


@pytest.fixture
async def base(state: TelegramState, spec: TelegramSpec) -> AsyncIterator[str]:
    async with running(make_telegram_app(state, spec=spec)) as url:
        yield url


@pytest.fixture
async def bot(base: str) -> AsyncIterator[telegram.Bot]:
    client = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{base}/bot")
    await client.initialize()
    try:
        yield client
    finally:
        await client.shutdown()


async def raw(bot: telegram.Bot, method: str, **params: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return await bot.do_api_request(method, api_kwargs=params)


def article(result_id: str, text: str = "x", **extra: Any) -> dict[str, Any]:
    return {
        "type": "article",
        "id": result_id,
        "title": "T",
        "input_message_content": {"message_text": text},
        **extra,
    }


# -- spec: built-in file and fallback ----------------------------------------------------


def test_builtin_spec_covers_every_method_the_bot_calls() -> None:
    spec = builtin_spec()
    assert spec.builtin
    assert sorted(spec.methods) == sorted(BUILTIN_METHODS)
    assert len(BUILTIN_METHODS) == 21
    send = spec.methods["sendMessage"].fields
    assert send["chat_id"].required and send["text"].required and not send["parse_mode"].required
    assert spec.types["InlineQueryResultArticle"].fields["type"].const == "article"
    assert "InlineQueryResultArticle" in spec.types["InlineQueryResult"].subtypes


def test_missing_spec_file_falls_back_to_the_builtin(tmp_path: Any) -> None:
    spec = load_spec(tmp_path / "absent.json")
    assert spec.builtin and spec.method("getmycommands") is not None


def test_builtin_file_is_the_subset_of_the_shared_spec() -> None:
    full_spec()
    with DEFAULT_PATH.open(encoding="utf-8") as handle:
        expected = subset(json.load(handle))
    shipped = builtin_spec()
    assert sorted(shipped.types) == sorted(expected["types"])
    for name in BUILTIN_METHODS:
        fields = [(f["name"], tuple(f["types"]), f["required"]) for f in
                  expected["methods"][name].get("fields", [])]  # fmt: skip
        got = [(f.name, f.types, f.required) for f in shipped.methods[name].fields.values()]
        assert got == fields, name


# -- chats, users, tokens ------------------------------------------------------------------


async def test_unknown_channel_is_chat_not_found(bot: telegram.Bot, state: TelegramState) -> None:
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await bot.send_message("@nobody_here", "x")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(-1009999999999, "x")
    assert [(r.error_code, r.description) for r in state.rejected] == [
        (400, "Bad Request: chat not found")
    ] * 2
    sent = await bot.send_message(CHANNEL, "declared")
    assert sent.chat.username == CHANNEL[1:]
    state.add_chat("@late_channel")
    await bot.send_message("@late_channel", "declared later")
    assert [m.text for m in state.sent] == ["declared", "declared later"]


async def test_user_who_never_started_the_bot_is_403(
    bot: telegram.Bot, state: TelegramState
) -> None:
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(777, "hello")
    assert state.rejected[-1].error_code == 403
    state.push_update(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 777, "type": "private"},
                "from": {"id": 777, "is_bot": False, "first_name": "A"},
                "text": "/start",
            }
        }
    )
    await bot.send_message(777, "hello")
    await bot.send_message(USER, "declared in the constructor")
    assert [m.chat_id for m in state.sent] == [777, USER]


async def test_wrong_token_is_unauthorized_when_started_with_one(
    base: str, state: TelegramState
) -> None:
    other = telegram.Bot(OTHER_TOKEN, base_url=f"{base}/bot")
    with pytest.raises(InvalidToken):
        await other.get_me()
    assert [(r.error_code, r.description) for r in state.rejected] == [(401, "Unauthorized")]


async def test_any_well_formed_token_without_a_configured_one() -> None:
    lenient = TelegramState()
    async with running(make_telegram_app(lenient)) as url:
        other = telegram.Bot(OTHER_TOKEN, base_url=f"{url}/bot")
        assert (await other.get_me()).is_bot
    assert lenient.rejected == []


# -- Boolean methods validate their parameters --------------------------------------------


async def test_answer_callback_query_needs_a_known_query(
    bot: telegram.Bot, state: TelegramState
) -> None:
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("never-seen")
    with pytest.raises(BadRequest, match="(?i)query_id is empty"):
        await raw(bot, "answerCallbackQuery", text="x")
    with pytest.raises(BadRequest, match='(?i)unknown parameter "txt"'):
        await raw(bot, "answerCallbackQuery", callback_query_id="q", txt="x")
    with pytest.raises(BadRequest, match="(?i)invalid value .*show_alert"):
        await raw(bot, "answerCallbackQuery", callback_query_id="q", show_alert="maybe")
    state.push_update(
        {
            "callback_query": {
                "id": "cb-1",
                "from": {"id": USER, "is_bot": False, "first_name": "A"},
                "chat_instance": "1",
                "data": "vote:1",
            }
        }
    )
    assert await bot.answer_callback_query("cb-1", text="Thanks")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("cb-1")  # answered once only
    assert [a["callback_query_id"] for a in state.callback_answers] == ["cb-1"]


async def test_answer_inline_query_checks_results(bot: telegram.Bot, state: TelegramState) -> None:
    for query in ("iq-1", "iq-2"):
        state.push_update(
            {
                "inline_query": {
                    "id": query,
                    "from": {"id": USER, "is_bot": False, "first_name": "A"},
                    "query": "gan",
                    "offset": "",
                }
            }
        )
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await raw(bot, "answerInlineQuery", inline_query_id="nope", results=[article("1")])
    with pytest.raises(BadRequest, match="(?i)results_too_much"):
        await raw(
            bot, "answerInlineQuery", inline_query_id="iq-1",
            results=[article(str(i)) for i in range(51)],
        )  # fmt: skip
    with pytest.raises(BadRequest, match="(?i)result_id_duplicate"):
        await raw(bot, "answerInlineQuery", inline_query_id="iq-1", results=[article("a")] * 2)
    missing_title = {k: v for k, v in article("1").items() if k != "title"}
    with pytest.raises(BadRequest, match='(?i)field "title" is required'):
        await raw(bot, "answerInlineQuery", inline_query_id="iq-1", results=[missing_title])
    with pytest.raises(BadRequest, match='(?i)unknown InlineQueryResult type "articel"'):
        await raw(
            bot, "answerInlineQuery", inline_query_id="iq-1",
            results=[{**article("1"), "type": "articel"}],
        )  # fmt: skip
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await raw(
            bot, "answerInlineQuery", inline_query_id="iq-1",
            results=[article("1", input_message_content={
                "message_text": "<b>x", "parse_mode": "HTML"})],
        )  # fmt: skip
    assert state.inline_answers == []
    fifty = [article(str(i)) for i in range(50)]
    assert await raw(bot, "answerInlineQuery", inline_query_id="iq-1", results=fifty)
    result = telegram.InlineQueryResultArticle(
        "r1", "Paper", telegram.InputTextMessageContent("<b>x</b>", parse_mode="HTML")
    )
    assert await bot.answer_inline_query("iq-2", [result], cache_time=0)
    assert [len(a["results"]) for a in state.inline_answers] == [50, 1]


async def test_set_my_commands_validates_and_scopes(
    bot: telegram.Bot, state: TelegramState
) -> None:
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([("Latest", "Latest paper")])
    with pytest.raises(BadRequest, match='(?i)field "description" is required'):
        await raw(bot, "setMyCommands", commands=[{"command": "latest"}])
    with pytest.raises(BadRequest, match="(?i)commands is empty"):
        await raw(bot, "setMyCommands")
    assert await bot.set_my_commands([("latest", "Latest paper")])
    private = telegram.BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands([("search", "Search")], scope=private)
    assert [c.command for c in await bot.get_my_commands()] == ["latest"]
    assert [c.command for c in await bot.get_my_commands(scope=private)] == ["search"]
    assert await bot.delete_my_commands(scope=private)
    assert await bot.get_my_commands(scope=private) == ()
    with pytest.raises(BadRequest, match='(?i)unknown BotCommandScope type "everyone"'):
        await raw(bot, "getMyCommands", scope={"type": "everyone"})


async def test_webhook_lifecycle(bot: telegram.Bot, state: TelegramState) -> None:
    with pytest.raises(BadRequest, match="(?i)HTTPS URL must be provided"):
        await bot.set_webhook("http://example.com/hook")
    with pytest.raises(BadRequest, match="(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://example.com:8080/hook")
    with pytest.raises(BadRequest, match="(?i)url is empty"):
        await raw(bot, "setWebhook")
    with pytest.raises(BadRequest, match="(?i)invalid value .*max_connections"):
        await raw(bot, "setWebhook", url="https://example.com/h", max_connections="many")
    assert await bot.set_webhook("https://example.com/hook")
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict, match="(?i)webhook is active"):
        await bot.get_updates()
    assert await raw(bot, "setWebhook", url="")  # an empty URL removes it
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_edit_reply_markup_media_members_and_close(
    bot: telegram.Bot, state: TelegramState
) -> None:
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Paper", url="https://arxiv.org/abs/1")]]
    )
    msg = await bot.send_message(CHANNEL, "x")
    edited = await bot.edit_message_reply_markup(CHANNEL, msg.message_id, reply_markup=keyboard)
    assert isinstance(edited, telegram.Message) and edited.reply_markup == keyboard
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_reply_markup(CHANNEL, msg.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_reply_markup(CHANNEL, 99, reply_markup=keyboard)
    state.limits_enabled = False
    doc = await bot.send_document(USER, b"%PDF-1.4", filename="issue.pdf", caption="<b>PDF</b>",
                                  parse_mode="HTML")  # fmt: skip
    assert doc.document is not None and doc.document.file_name == "issue.pdf"
    assert doc.caption == "PDF"
    photo = await bot.send_photo(CHANNEL, "https://example.com/figure.png", caption="fig")
    assert photo.photo and photo.caption == "fig"
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.send_photo(CHANNEL, "https://example.com/f.png", caption="a" * 1025)
    with pytest.raises(BadRequest, match="(?i)photo is empty"):
        await raw(bot, "sendPhoto", chat_id=USER)
    me = await bot.get_chat_member(CHANNEL, bot.id)
    assert me.status == "administrator"
    assert (await bot.get_chat_member(CHANNEL, USER)).status == "left"
    state.members[state.resolve_chat(CHANNEL)] = {USER}
    assert (await bot.get_chat_member(CHANNEL, USER)).status == "member"
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.get_chat_member("@unknown_chat", USER)
    assert await raw(bot, "close") is True
    assert await bot.log_out()
    with pytest.raises(BadRequest, match='(?i)unknown parameter "now"'):
        await raw(bot, "close", now=True)


# -- X credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("wrong", sorted(X_KEYS))
async def test_x_rejects_each_wrong_credential(wrong: str) -> None:
    state = XState(clock=FakeClock(), **X_KEYS)
    async with running(make_x_app(state)) as base:
        client = tweepy.Client(**{**X_KEYS, wrong: X_KEYS[wrong] + "-wrong"})
        route_client(client, base)
        good = tweepy.Client(**X_KEYS)
        route_client(good, base)
        with pytest.raises(tweepy.errors.Unauthorized):
            await asyncio.to_thread(client.create_tweet, text="x")
        await asyncio.to_thread(good.create_tweet, text="x")
    assert [r.status for r in state.rejected] == [401]
    assert state.texts() == ["x"]


def test_x_credentials_are_all_or_none() -> None:
    with pytest.raises(ValueError, match="all four"):
        XState(consumer_key="k", consumer_secret="s")

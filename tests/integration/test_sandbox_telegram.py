"""The fake Telegram Bot API, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import math
import random
import subprocess
import sys
import warnings
from typing import Any

import httpx
import pytest
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.sandbox import Fault, FaultInjector, FaultKind, TelegramState, make_telegram_app, running
from bot.sandbox.clock import FakeClock
from bot.sandbox.inbox import entities_to_html
from bot.sandbox.spec import load_spec
from bot.sandbox.telegram_html import HtmlParseError, parse_html
from tests.integration.conftest import TELEGRAM_TOKEN

CHANNEL = "@digest_channel"


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def raw_call(bot: telegram.Bot, method: str, **params: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return await bot.do_api_request(method, api_kwargs=params)


async def test_valid_html_is_parsed_into_entities(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    msg = await telegram_bot.send_message(
        CHANNEL,
        '<b>Paper</b>: <a href="https://arxiv.org/abs/1">link</a> 😀 <i>x</i>',
        parse_mode="HTML",
    )
    assert msg.text == "Paper: link 😀 x"
    assert msg.chat.type == "channel" and msg.chat.username == "digest_channel"
    kinds = [(e.type, e.offset, e.length) for e in msg.entities]
    assert kinds == [("bold", 0, 5), ("text_link", 7, 4), ("italic", 15, 1)]  # 😀 = 2 units
    assert msg.entities[1].url == "https://arxiv.org/abs/1"
    second = await telegram_bot.send_message(-1001234567890, "plain")
    assert second.message_id == 1  # ids are per chat
    [first] = telegram_state.messages(CHANNEL)
    assert first.message_id == msg.message_id and first.parse_mode == "HTML"


async def test_escaped_hostile_text_round_trips(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    hostile = '<script>alert("x")</script> R&D &foo; a < b > c &amp; "q" \'s\''
    msg = await telegram_bot.send_message(42, html.escape(hostile), parse_mode="HTML")
    assert msg.text == hostile
    assert msg.chat.type == "private"
    assert [m.visible_text for m in telegram_state.sent] == [hostile]


@pytest.mark.parametrize(
    "text",
    [
        "<b>" + "a" * 4096 + "</b>",  # raw 4103 bytes, visible 4096
        "&amp;" * 4096,
        "😀" * 2048,  # 4096 UTF-16 code units
    ],
)
async def test_exactly_4096_visible_units_is_accepted(
    telegram_bot: telegram.Bot, text: str
) -> None:
    msg = await telegram_bot.send_message(42, text, parse_mode="HTML")
    assert msg.text is not None and len(msg.text.encode("utf-16-le")) == 2 * 4096


@pytest.mark.parametrize("text", ["a" * 4097, "<i>" + "a" * 4097 + "</i>", "😀" * 2049])
async def test_more_than_4096_visible_units_is_too_long(
    telegram_bot: telegram.Bot, telegram_state: TelegramState, text: str
) -> None:
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await telegram_bot.send_message(42, text, parse_mode="HTML")
    assert telegram_state.sent == []


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("&foo; bar", 'Unsupported HTML entity "&foo;" at byte offset 0'),
        ("é<script>x</script>", 'Unsupported start tag "script" at byte offset 2'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="bold">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_malformed_html_is_rejected(
    telegram_bot: telegram.Bot, telegram_state: TelegramState, text: str, description: str
) -> None:
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await telegram_bot.send_message(42, text, parse_mode="HTML")
    assert telegram_state.sent == []
    [rejected] = telegram_state.rejected
    assert rejected.description.startswith("Bad Request: can't parse entities: " + description)


async def test_markup_is_not_parsed_without_parse_mode(telegram_bot: telegram.Bot) -> None:
    msg = await telegram_bot.send_message(42, "<b>x &foo;")
    assert msg.text == "<b>x &foo;" and not msg.entities


@pytest.mark.parametrize("text", ["", "   \n", "<b></b>"])
async def test_empty_text_is_rejected(telegram_bot: telegram.Bot, text: str) -> None:
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await telegram_bot.send_message(42, text, parse_mode="HTML")


async def test_spec_validation_of_parameters(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    with pytest.raises(BadRequest, match='(?i)unknown parameter "disable_web_page_previews"'):
        await raw_call(
            telegram_bot, "sendMessage", chat_id=42, text="x", disable_web_page_previews=True
        )
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await raw_call(telegram_bot, "sendMessage", chat_id="digest", text="x")
    with pytest.raises(BadRequest, match="(?i)chat_id is empty"):
        await raw_call(telegram_bot, "sendMessage", text="x")
    with pytest.raises(BadRequest, match="(?i)invalid value .*disable_notification"):
        await raw_call(telegram_bot, "sendMessage", chat_id=42, text="x", disable_notification="y")
    with pytest.raises(BadRequest, match="(?i)text buttons are unallowed"):
        await raw_call(
            telegram_bot,
            "sendMessage",
            chat_id=42,
            text="x",
            reply_markup={"inline_keyboard": [[{"text": "no action"}]]},
        )
    with pytest.raises(BadRequest, match="(?i)can't parse reply keyboard markup"):
        await raw_call(telegram_bot, "sendMessage", chat_id=42, text="x", reply_markup=[1])
    assert telegram_state.sent == []
    assert len(telegram_state.rejected) == 6


async def test_inline_keyboard_and_link_preview_are_accepted(telegram_bot: telegram.Bot) -> None:
    keyboard = telegram.InlineKeyboardMarkup(
        [
            [
                telegram.InlineKeyboardButton("Paper", url="https://arxiv.org/abs/1"),
                telegram.InlineKeyboardButton("👍", callback_data="vote:1"),
            ]
        ]
    )
    msg = await telegram_bot.send_message(
        CHANNEL,
        "x",
        reply_markup=keyboard,
        link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
    )
    assert msg.reply_markup == keyboard


async def test_unknown_method_and_bad_token(
    telegram_base_url: str, telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    with pytest.raises(EndPointNotFound):
        await raw_call(telegram_bot, "sendMesage", chat_id=1, text="x")
    assert telegram_state.rejected[-1].error_code == 404
    bad = telegram.Bot("123:short", base_url=f"{telegram_base_url}/bot")
    with pytest.raises(InvalidToken):
        await bad.initialize()
    assert telegram_state.rejected[-1].error_code == 401


async def test_injected_429_raises_retry_after(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    telegram_state.faults.push(Fault(FaultKind.RATE_LIMIT, method="sendMessage", retry_after=7))
    with pytest.raises(RetryAfter) as info:
        await telegram_bot.send_message(42, "x")
    assert retry_seconds(info.value) == 7
    await telegram_bot.send_message(42, "x")  # the fault was consumed
    assert len(telegram_state.sent) == 1


async def test_blocked_missing_and_migrated_chats(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    telegram_state.blocked_chats.add(42)
    telegram_state.missing_chats.add("@gone")
    telegram_state.migrated[-555] = -1009999999999
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await telegram_bot.send_message(42, "x")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await telegram_bot.send_message("@gone", "x")
    with pytest.raises(ChatMigrated) as info:
        await telegram_bot.send_message(-555, "x")
    assert info.value.new_chat_id == -1009999999999
    assert telegram_state.sent == []


async def test_server_error_and_dropped_connections(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    telegram_state.faults.push(
        Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP), Fault(FaultKind.ACCEPT_THEN_DROP)
    )
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await telegram_bot.send_message(42, "one")
    with pytest.raises(NetworkError):
        await telegram_bot.send_message(42, "two")
    assert telegram_state.sent == []
    with pytest.raises(NetworkError):
        await telegram_bot.send_message(42, "three")
    assert [m.text for m in telegram_state.sent] == ["three"]  # accepted, client never knew
    assert [k for _, k in telegram_state.faults.injected] == [
        FaultKind.SERVER_ERROR,
        FaultKind.DROP,
        FaultKind.ACCEPT_THEN_DROP,
    ]


async def test_slow_response_times_out_client(
    telegram_base_url: str, telegram_state: TelegramState
) -> None:
    request = HTTPXRequest(read_timeout=0.05)
    bot = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{telegram_base_url}/bot", request=request)
    await bot.initialize()
    telegram_state.faults.push(Fault(FaultKind.SLOW, delay=0.5))
    with pytest.raises(TimedOut):
        await bot.send_message(42, "late")
    await bot.shutdown()


async def test_per_chat_limit_follows_the_fake_clock(
    telegram_bot: telegram.Bot, fake_clock: FakeClock
) -> None:
    await telegram_bot.send_message(42, "first")
    with pytest.raises(RetryAfter) as info:
        await telegram_bot.send_message(42, "second")
    assert retry_seconds(info.value) == 1
    await telegram_bot.send_message(43, "other chat is fine")
    fake_clock.advance(1.0)
    await telegram_bot.send_message(42, "second")


async def test_channel_limit_is_20_per_minute(
    telegram_bot: telegram.Bot, fake_clock: FakeClock
) -> None:
    for i in range(20):
        await telegram_bot.send_message(CHANNEL, f"post {i}")
        fake_clock.advance(1.0)
    with pytest.raises(RetryAfter) as info:
        await telegram_bot.send_message(CHANNEL, "post 20")
    assert retry_seconds(info.value) == 40
    fake_clock.advance(40.0)
    await telegram_bot.send_message(CHANNEL, "post 20")


async def test_global_limit_and_lifting_limits(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    for chat in range(1, 31):
        await telegram_bot.send_message(chat, "x")
    with pytest.raises(RetryAfter):
        await telegram_bot.send_message(31, "x")
    telegram_state.limits_enabled = False
    for _ in range(5):
        await telegram_bot.send_message(31, "x")
    assert len(telegram_state.sent) == 35


async def test_edit_and_delete(telegram_bot: telegram.Bot, telegram_state: TelegramState) -> None:
    msg = await telegram_bot.send_message(CHANNEL, "<b>v1</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await telegram_bot.edit_message_text(
            "<b>v1</b>", CHANNEL, msg.message_id, parse_mode="HTML"
        )
    edited = await telegram_bot.edit_message_text("v2", CHANNEL, msg.message_id)
    assert isinstance(edited, telegram.Message) and edited.text == "v2"
    assert telegram_state.sent[0].edits == ["<b>v1</b>"]
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await telegram_bot.edit_message_text("v3", CHANNEL, 999)
    assert await telegram_bot.delete_message(CHANNEL, msg.message_id)
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await telegram_bot.delete_message(CHANNEL, msg.message_id)
    assert telegram_state.messages() == []


async def test_updates_commands_and_webhook(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    update_id = telegram_state.push_update(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 42, "type": "private"},
                "text": "/start",
            }
        }
    )
    [update] = await telegram_bot.get_updates()
    assert update.update_id == update_id and update.message and update.message.text == "/start"
    assert await telegram_bot.get_updates(offset=update_id + 1) == ()
    assert await telegram_bot.set_my_commands([("latest", "Latest paper")])
    assert [c.command for c in await telegram_bot.get_my_commands()] == ["latest"]
    assert await telegram_bot.delete_webhook()
    chat = await telegram_bot.get_chat(CHANNEL)
    assert chat.type == "channel"


def test_random_faults_are_reproducible_from_the_seed() -> None:
    def draw(seed: int) -> list[FaultKind | None]:
        injector = FaultInjector(
            seed=seed, probabilities={FaultKind.SERVER_ERROR: 0.3, FaultKind.DROP: 0.2}
        )
        return [f.kind if (f := injector.next_fault("sendMessage")) else None for _ in range(50)]

    first = draw(7)
    assert first == draw(7)
    assert {FaultKind.SERVER_ERROR, FaultKind.DROP, None} == set(first)


async def test_builtin_spec_fallback(tmp_path: Any) -> None:
    spec = load_spec(tmp_path / "absent.json")
    assert spec.builtin and spec.method("sendmessage") is not None
    state = TelegramState(spec_path=tmp_path / "absent.json", users={1})
    async with running(make_telegram_app(state)) as base:
        bot = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{base}/bot")
        await bot.initialize()
        await bot.send_message(1, "<i>ok</i>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)unknown parameter"):
            await raw_call(bot, "sendMessage", chat_id=1, text="x", foo=1)
        await bot.shutdown()
    assert [m.visible_text for m in state.sent] == ["ok"]


def test_shared_spec_is_used_when_present() -> None:
    spec = load_spec()
    if spec.builtin:
        pytest.skip("needs ../shared/specs/telegram-bot-api.json beside the checkout")
    assert len(spec.methods) > 100 and spec.method("sendMessage") is not None


def test_html_parser_offsets_and_entities() -> None:
    parsed = parse_html('<pre><code class="language-python">x=1</code></pre>&#128512;&#x41;')
    assert parsed.text == "x=1😀A"
    assert parsed.entities == [{"type": "pre", "offset": 0, "length": 3, "language": "python"}]
    assert parse_html("&foo;", strict_entities=False).text == "&foo;"  # the real server's way
    with pytest.raises(HtmlParseError, match="byte offset 4"):
        parse_html("😀<x>")  # 4-byte emoji before the tag


@pytest.mark.slow
def test_module_main_prints_base_url_and_serves() -> None:
    command = [sys.executable, "-m", "bot.sandbox", "telegram", "--port", "0"]
    options = ["--token", TELEGRAM_TOKEN, "--channel", "@cli_channel", "--user", "5"]
    proc = subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        api = f"{base}/bot{TELEGRAM_TOKEN}"
        reply = httpx.post(f"{api}/getMe", timeout=5)
        assert reply.status_code == 200 and reply.json()["result"]["is_bot"] is True
        reply = httpx.post(f"{api}/sendMessage", data={"chat_id": "5"})
        assert reply.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message text is empty",
        }
        other = "111:AAHanotherWellFormedTokenButNotOurs_01"
        assert httpx.post(f"{base}/bot{other}/getMe").status_code == 401
        sends = [("@cli_channel", 200), ("@other_channel", 400), ("5", 200), ("6", 403)]
        for chat, status in sends:
            reply = httpx.post(f"{api}/sendMessage", data={"chat_id": chat, "text": "hi"})
            assert reply.status_code == status, (chat, reply.text)
        inbox = httpx.get(f"{base}/_inbox.json").json()
        assert [(c["label"], len(c["messages"])) for c in inbox["chats"]] == [
            ("@cli_channel (channel)", 1),
            ("private chat 5", 1),
        ]
        assert "@cli_channel (channel): 1 message(s)" in httpx.get(f"{base}/_inbox").text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"{base}/_inbox" in err


def test_module_main_refuses_partial_x_credentials() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.sandbox", "x", "--consumer-key", "k"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "give all four X credentials or none" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_concurrent_sends_get_distinct_ids(
    telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    telegram_state.limits_enabled = False
    messages = await asyncio.gather(*(telegram_bot.send_message(7, f"m{i}") for i in range(10)))
    assert sorted(m.message_id for m in messages) == list(range(1, 11))
    assert len({m.text for m in telegram_state.sent}) == 10


async def test_inbox_shows_channel_messages_as_html_and_json(
    telegram_base_url: str, telegram_bot: telegram.Bot, telegram_state: TelegramState
) -> None:
    telegram_state.limits_enabled = False
    keyboard = telegram.InlineKeyboardMarkup(
        [
            [
                telegram.InlineKeyboardButton("Paper <1>", url="https://arxiv.org/abs/1?a=1&b=2"),
                telegram.InlineKeyboardButton("👍", callback_data="vote:1"),
            ]
        ]
    )
    hostile = '<script>alert("x")</script> & 😀'
    text = f'<b>Bold</b> {html.escape(hostile)} <a href="https://arxiv.org/abs/1">paper</a>'
    await telegram_bot.send_message(CHANNEL, text, parse_mode="HTML", reply_markup=keyboard)
    await telegram_bot.send_message(42, "a private reply")
    gone = await telegram_bot.send_message(CHANNEL, "deleted later")
    await telegram_bot.delete_message(CHANNEL, gone.message_id)
    async with httpx.AsyncClient(base_url=telegram_base_url) as client:
        data = (await client.get("/_inbox.json")).json()
        page = await client.get("/_inbox")
    channel, private = data["chats"]
    assert (channel["label"], private["label"]) == ("@digest_channel (channel)", "private chat 42")
    [message] = channel["messages"]
    assert message["text"] == f"Bold {hostile} paper"
    assert message["html"] == (
        '<b>Bold</b> &lt;script&gt;alert("x")&lt;/script&gt; &amp; 😀 '
        '<a href="https://arxiv.org/abs/1" rel="nofollow noopener">paper</a>'
    )
    assert message["buttons"] == [
        [
            {"text": "Paper <1>", "url": "https://arxiv.org/abs/1?a=1&b=2"},
            {"text": "👍", "callback_data": "vote:1"},
        ]
    ]
    assert [m["text"] for m in private["messages"]] == ["a private reply"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert '<a class="button" href="https://arxiv.org/abs/1?a=1&amp;b=2"' in body
    assert "Paper &lt;1&gt;</a>" in body and 'title="callback: vote:1"' in body
    assert "@digest_channel (channel): 1 message(s)" in body
    assert "deleted later" not in body


async def test_inbox_is_empty_before_anything_is_posted(telegram_base_url: str) -> None:
    async with httpx.AsyncClient(base_url=telegram_base_url) as client:
        assert (await client.get("/_inbox.json")).json()["chats"] == []
        assert "Nothing posted yet." in (await client.get("/_inbox")).text


def test_inbox_html_keeps_nesting_and_drops_unsafe_links() -> None:
    parsed = parse_html(
        '<b>a<i>b😀</i></b>c <a href="javascript:alert(1)">x</a> <code>&lt;y&gt;</code>'
    )
    assert entities_to_html(parsed.text, parsed.entities) == (
        "<b>a<i>b😀</i></b>c <u>x</u> <code>&lt;y&gt;</code>"
    )


def test_the_limiter_answers_as_counting_every_arrival_would() -> None:
    """The fake's limiter reads only the limit-th latest arrival of each history (constant
    time, where a minute of history at the paid rate holds 60,000): the same answers as
    counting every arrival in the window, for the free, paid, per-chat and group limits."""
    clock = FakeClock()
    state = TelegramState(clock=clock)
    rng = random.Random(7)
    arrivals: dict[int, list[float]] = {}
    overall: list[float] = []
    chats = [1, 2, 3, -1001000000001]  # three users and a channel (20 a minute)
    answers: list[int | None] = []
    for _ in range(6000):
        clock.advance(rng.choice([0.0, 0.0004, 0.001, 0.02, 0.4]))
        chat, paid = rng.choice(chats), rng.random() < 0.5
        now = clock()
        checks = [
            (overall, 1.0, state.paid_per_second if paid else state.global_per_second),
            (arrivals.get(chat, []), 1.0, state.chat_per_second),
        ]
        if chat < 0:
            checks.append((arrivals.get(chat, []), 60.0, state.group_per_minute))
        waits = []
        for times, window, limit in checks:
            recent = [t for t in times if t > now - window]
            if len(recent) >= limit:
                waits.append(recent[-limit] + window - now)
        expected = None if not waits else max(1, math.ceil(max(waits)))
        got = state.limiter.retry_after(state, chat, chat < 0, paid=paid)
        assert got == expected
        answers.append(got)
        if got is None:
            state.limiter.record(chat, now)
            overall.append(now)
            arrivals.setdefault(chat, []).append(now)
    assert answers.count(None) > 1000 and len(set(answers)) > 2  # both outcomes exercised


def test_the_paid_limit_is_a_thousand_a_second() -> None:
    clock = FakeClock()
    state = TelegramState(clock=clock)
    for chat in range(1, 1001):
        assert state.limiter.retry_after(state, chat, False, paid=True) is None
        state.limiter.record(chat, clock())
        clock.advance(0.0009)
    assert state.limiter.retry_after(state, 5000, False, paid=True) == 1
    assert state.limiter.retry_after(state, 5000, False) == 1  # free: 30 a second
    clock.advance(0.1)  # the first arrival left the window
    assert state.limiter.retry_after(state, 5000, False, paid=True) is None

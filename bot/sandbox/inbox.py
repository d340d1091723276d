"""What the fakes accepted, for people: ``GET /_inbox`` (HTML) and ``/_inbox.json``.

Telegram: every chat that received messages (channels first), each message rebuilt
from its visible text and entities (never the raw text the bot sent), with its
inline buttons.  X: the posts as a timeline, newest first in HTML and in posting
order in JSON.  Every string is escaped; only http(s)/tg links become anchors.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.telegram_state import SentMessage, TelegramState

if TYPE_CHECKING:
    from bot.sandbox.x_api import XPost

_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
    "custom_emoji": ("<span>", "</span>"),
}
_SAFE_URL = re.compile(r"(https?|tg)://\S+\Z", re.IGNORECASE)
_TWEET_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem;
color:#111;background:#f4f5f7}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
.card{background:#fff;border:1px solid #ddd;border-radius:10px;padding:.7rem .9rem;margin:.6rem 0}
.text{white-space:pre-wrap;overflow-wrap:anywhere}.meta{color:#667;font-size:.8rem}
.buttons{display:grid;gap:.3rem;margin-top:.5rem}.row{display:flex;gap:.3rem}
.button{flex:1;text-align:center;border:1px solid #9ab;border-radius:6px;padding:.25rem}
.spoiler{background:#ccc;color:#ccc}.spoiler:hover{color:inherit}
pre{background:#f0f0f0;padding:.4rem}blockquote{border-left:3px solid #9ab;margin:.3rem 0;
padding-left:.6rem}.empty{color:#667}
""".strip()


def _safe_href(url: str) -> str | None:
    return html.escape(url, quote=True) if _SAFE_URL.match(url) else None


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- Telegram -------------------------------------------------------------------------


def entities_to_html(text: str, entities: list[dict[str, Any]]) -> str:
    """Safe HTML for `text` with Telegram `entities` (UTF-16 offsets, properly nested)."""
    units = text.encode("utf-16-le")

    def piece(start: int, end: int) -> str:
        return html.escape(units[2 * start : 2 * end].decode("utf-16-le"), quote=False)

    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"]))
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (end offset, closing tag)
    position = 0
    for entity in ordered:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        while stack and stack[-1][0] <= start:
            close_at, closing = stack.pop()
            out.append(piece(position, close_at) + closing)
            position = close_at
        out.append(piece(position, start))
        position = start
        opening, closing = _tags(entity)
        out.append(opening)
        stack.append((end, closing))
    while stack:
        close_at, closing = stack.pop()
        out.append(piece(position, close_at) + closing)
        position = close_at
    out.append(piece(position, len(units) // 2))
    return "".join(out)


def _tags(entity: dict[str, Any]) -> tuple[str, str]:
    if entity["type"] == "text_link":
        href = _safe_href(str(entity.get("url", "")))
        if href is None:
            return "<u>", "</u>"
        return f'<a href="{href}" rel="nofollow noopener">', "</a>"
    return _TAGS.get(entity["type"], ("<span>", "</span>"))


def _buttons(markup: Any) -> list[list[dict[str, str]]]:
    if not isinstance(markup, dict):
        return []
    rows = []
    for row in markup.get("inline_keyboard") or []:
        buttons = []
        for button in row:
            entry = {"text": str(button.get("text", ""))}
            for key in ("url", "callback_data"):
                if key in button:
                    entry[key] = str(button[key])
            buttons.append(entry)
        rows.append(buttons)
    return rows


def _chat_label(chat: dict[str, Any]) -> str:
    if chat.get("username"):
        return f"@{chat['username']} ({chat['type']})"
    return f"{chat['type']} chat {chat['id']}"


def telegram_inbox(state: TelegramState) -> dict[str, Any]:
    """Chats with their delivered (not deleted) messages, channels first."""
    by_chat: dict[int, list[SentMessage]] = {}
    for message in state.messages():
        by_chat.setdefault(message.chat_id, []).append(message)
    order = sorted(by_chat, key=lambda c: (state.chat_type(c) != "channel", c))
    chats = []
    for chat_id in order:
        chat = state.chat_object(chat_id)
        chats.append(
            {
                "id": chat_id,
                "type": chat["type"],
                "username": chat.get("username"),
                "label": _chat_label(chat),
                "messages": [_message_entry(m) for m in by_chat[chat_id]],
            }
        )
    return {"bot": state.bot_user.get("username"), "chats": chats}


def _message_entry(message: SentMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "date": _when(message.date),
        "kind": message.kind,
        "text": message.visible_text,
        "html": entities_to_html(message.visible_text, message.entities),
        "buttons": _buttons(message.reply_markup),
        "edited": bool(message.edits),
    }


def telegram_inbox_html(state: TelegramState) -> str:
    data = telegram_inbox(state)
    parts = [f"<h1>Telegram sandbox: what @{html.escape(str(data['bot']))} posted</h1>"]
    if not data["chats"]:
        parts.append('<p class="empty">Nothing posted yet.</p>')
    for chat in data["chats"]:
        count = len(chat["messages"])
        parts.append(f"<h2>{html.escape(chat['label'])}: {count} message(s)</h2>")
        for message in chat["messages"]:
            meta = f"#{message['message_id']} · {message['date']}"
            meta += "" if message["kind"] == "text" else f" · {message['kind']}"
            meta += " · edited" if message["edited"] else ""
            parts.append(
                f'<div class="card"><div class="meta">{meta}</div>'
                f'<div class="text">{message["html"]}</div>{_buttons_html(message["buttons"])}'
                "</div>"
            )
    return _page("Telegram sandbox inbox", parts)


def _buttons_html(rows: list[list[dict[str, str]]]) -> str:
    if not rows:
        return ""
    out = ['<div class="buttons">']
    for row in rows:
        out.append('<div class="row">')
        for button in row:
            label = html.escape(button["text"])
            href = _safe_href(button.get("url", ""))
            if href is not None:
                out.append(f'<a class="button" href="{href}" rel="nofollow noopener">{label}</a>')
            else:
                data = html.escape(button.get("callback_data", ""), quote=True)
                out.append(f'<span class="button" title="callback: {data}">{label}</span>')
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


# -- X -----------------------------------------------------------------------------------


def tweet_to_html(text: str) -> str:
    """Escaped text with URLs shown shortened and linked, as X displays them."""
    out: list[str] = []
    position = 0
    for found in _TWEET_URL.finditer(text):
        out.append(html.escape(text[position : found.start()], quote=False))
        url = found.group()
        shown = re.sub(r"^https?://(www\.)?", "", url, flags=re.IGNORECASE)
        if len(shown) > 26:
            shown = shown[:25] + "…"
        href = html.escape(url, quote=True)
        out.append(f'<a href="{href}" rel="nofollow noopener">{html.escape(shown)}</a>')
        position = found.end()
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


def x_inbox(posts: list[XPost], user: dict[str, Any]) -> dict[str, Any]:
    """The account's live (not deleted) posts, in posting order."""
    tweets = []
    for post in posts:
        if post.deleted:
            continue
        reply = post.body.get("reply")
        tweets.append(
            {
                "id": post.id,
                "created_at": _when(post.created),
                "text": post.text,
                "html": tweet_to_html(post.text),
                "in_reply_to": reply.get("in_reply_to_tweet_id")
                if isinstance(reply, dict)
                else None,
            }
        )
    return {"user": user, "tweets": tweets}


def x_inbox_html(posts: list[XPost], user: dict[str, Any]) -> str:
    data = x_inbox(posts, user)
    name = html.escape(str(user.get("name", "")))
    handle = html.escape(str(user.get("username", "")))
    parts = [f"<h1>X sandbox: {len(data['tweets'])} post(s) by {name} @{handle}</h1>"]
    if not data["tweets"]:
        parts.append('<p class="empty">Nothing posted yet.</p>')
    for tweet in reversed(data["tweets"]):
        reply = f" · reply to {html.escape(tweet['in_reply_to'])}" if tweet["in_reply_to"] else ""
        parts.append(
            '<div class="card">'
            f'<div class="meta"><b>{name}</b> @{handle} · {tweet["created_at"]}{reply}</div>'
            f'<div class="text">{tweet["html"]}</div></div>'
        )
    return _page("X sandbox inbox", parts)


def _page(title: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def html_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")

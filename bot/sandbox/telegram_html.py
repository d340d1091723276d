"""Telegram ``parse_mode=HTML`` parser, a port of tdlib's ``parse_html``.

It scans the UTF-8 bytes like tdlib does, so the "byte offset N" in error
messages matches the real server.  Returns the visible text plus
MessageEntity dicts with UTF-16 offsets/lengths.

Deliberate strictness beyond the real server (``strict_entities=True``): an
``&name;`` other than ``&lt; &gt; &amp; &quot;`` (or an invalid numeric
reference) is an error, whereas Telegram would keep it as literal text.  That
catches text that was not passed through ``html.escape``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "blockquote": "blockquote",
}
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACE = frozenset(b" \t\r\n\0\v\f")
_NAME_TOKEN = re.compile(rb"[A-Za-z0-9.\-]*")


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; str() is tdlib's message."""


@dataclass
class ParsedHtml:
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_start: int


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(data: bytes, pos: int, strict: bool) -> tuple[str, int] | None:
    """Decode the character reference at data[pos] == '&': (char, next_pos) or None."""
    end = pos + 1
    if data[end : end + 1] == b"#":
        end += 1
        hexadecimal = data[end : end + 1] == b"x"
        end += hexadecimal
        digits = rb"[0-9A-Fa-f]*" if hexadecimal else rb"[0-9]*"
        match = re.compile(digits).match(data, end)
        assert match is not None
        end = match.end()
        value = int(match.group() or b"0", 16 if hexadecimal else 10)
        if value == 0 or value >= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            if strict:
                raise HtmlParseError(f"Invalid numeric character reference at byte offset {pos}")
            return None
        char = chr(value)
    else:
        match = re.compile(rb"[A-Za-z]*").match(data, end)
        assert match is not None
        end = match.end()
        name = match.group()
        if name not in _NAMED:
            if strict and name:
                source = data[pos : end + (data[end : end + 1] == b";")].decode()
                raise HtmlParseError(f'Unsupported HTML entity "{source}" at byte offset {pos}')
            return None
        char = _NAMED[name]
    if data[end : end + 1] == b";":
        end += 1
    return char, end


def parse_html(text: str, *, strict_entities: bool = True) -> ParsedHtml:
    """Parse Telegram HTML; raise :class:`HtmlParseError` with tdlib's wording."""
    data = text.encode("utf-8") + b"\0"
    size = len(data) - 1
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < size:
        c = data[i]
        if c == 0x26:  # '&'
            decoded = _decode_entity(data, i, strict_entities)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                utf16 += utf16_len(char)
                continue
        if c != 0x3C:  # not '<'
            j = i + 1
            while j < size and data[j] not in (0x26, 0x3C):
                j += 1
            chunk = data[i:j].decode("utf-8")
            out.append(chunk)
            utf16 += utf16_len(chunk)
            i = j
            continue
        begin = i
        i += 1
        if data[i] != 0x2F:  # start tag
            while data[i] not in _SPACE and data[i] != 0x3E:
                i += 1
            if i >= size:
                raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in SUPPORTED_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument, i = _parse_attributes(data, i, size, tag, begin, strict_entities)
            if tag == "span" and argument != "spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            if tag == "code" and argument and stack and stack[-1].tag == "pre":
                stack[-1].argument = argument  # <pre><code class="language-x">: pre's language
                argument = "in-pre"
            stack.append(_Open(tag, argument, utf16))
            i += 1  # skip '>'
            continue
        # end tag
        if not stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        while data[i] not in _SPACE and data[i] != 0x3E:
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", "replace")
        while data[i] in _SPACE and i < size:
            i += 1
        if data[i] != 0x3E:
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        opened = stack.pop()
        if end_name and end_name.lower() != opened.tag:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", '
                f'found "</{end_name}>"'
            )
        i += 1
        entity = _make_entity(opened, utf16)
        if entity is not None:
            entities.append(entity)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedHtml("".join(out), entities)


def _parse_attributes(
    data: bytes, i: int, size: int, tag: str, begin: int, strict: bool
) -> tuple[str, int]:
    """Parse attributes up to '>'; return (entity argument, index of '>')."""
    argument = ""
    while data[i] != 0x3E:
        while i < size and data[i] in _SPACE:
            i += 1
        if data[i] == 0x3E:
            break
        if i >= size:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        name_begin = i
        while data[i] not in _SPACE and data[i] not in (0x3D, 0x3E):
            i += 1
        name = data[name_begin:i].decode("utf-8", "replace").lower()
        if not name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while i < size and data[i] in _SPACE:
            i += 1
        if data[i] != 0x3D:  # attribute without value
            if tag == "blockquote" and name == "expandable":
                argument = "expandable"
            continue
        i += 1
        while i < size and data[i] in _SPACE:
            i += 1
        if i >= size:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value, i = _attribute_value(data, i, size, begin, strict)
        if tag == "a" and name == "href":
            argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and name == "emoji-id":
            argument = value
    return argument, i


def _attribute_value(data: bytes, i: int, size: int, begin: int, strict: bool) -> tuple[str, int]:
    quote = data[i]
    if quote not in (0x22, 0x27):
        match = _NAME_TOKEN.match(data, i)
        assert match is not None
        if data[match.end()] not in _SPACE and data[match.end()] != 0x3E:
            raise HtmlParseError(f"Unexpected end of name token at byte offset {i}")
        return match.group().decode().lower(), match.end()
    i += 1
    parts: list[str] = []
    while i < size and data[i] != quote:
        if data[i] == 0x26:
            decoded = _decode_entity(data, i, strict)
            if decoded is not None:
                parts.append(decoded[0])
                i = decoded[1]
                continue
        j = i + 1
        while j < size and data[j] not in (quote, 0x26):
            j += 1
        parts.append(data[i:j].decode("utf-8"))
        i = j
    if i >= size:
        raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
    i += 1
    if data[i] not in _SPACE and data[i] != 0x3E:
        raise HtmlParseError(f"Unexpected end of name token at byte offset {i}")
    return "".join(parts), i


def _make_entity(opened: _Open, utf16_end: int) -> dict[str, Any] | None:
    length = utf16_end - opened.utf16_start
    if length <= 0:
        return None
    if opened.tag == "code" and opened.argument == "in-pre":
        return None  # merged into the enclosing pre entity
    kind = _ENTITY_TYPES[opened.tag]
    entity: dict[str, Any] = {"type": kind, "offset": opened.utf16_start, "length": length}
    if opened.tag == "a":
        if not opened.argument:
            return None
        entity["url"] = opened.argument
    elif opened.tag == "pre" and opened.argument:
        entity["language"] = opened.argument
    elif opened.tag == "tg-emoji":
        if not opened.argument.isdigit():
            return None
        entity["custom_emoji_id"] = opened.argument
    elif opened.tag == "blockquote" and opened.argument == "expandable":
        entity["type"] = "expandable_blockquote"
    return entity

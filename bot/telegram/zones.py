"""The time zones a subscriber picks from with buttons: regions, then common IANA zones.

Pure data and formatting (no I/O); the current UTC offset shown on a button is worked out for
the ``now`` the caller passes. Every zone here must exist in the IANA database (a test checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.domain.quiet import UnknownTimezone, zone

PAGE_SIZE: Final = 8  # zone buttons per page, two a row
UTC_ZONE: Final = "UTC"


@dataclass(frozen=True, slots=True)
class Region:
    code: str  # in callback data: short, [a-z]
    en: str
    zh: str
    zones: tuple[str, ...]


REGIONS: Final[tuple[Region, ...]] = (
    Region(
        "as",
        "Asia",
        "亚洲",
        (
            "Asia/Shanghai",
            "Asia/Hong_Kong",
            "Asia/Taipei",
            "Asia/Tokyo",
            "Asia/Seoul",
            "Asia/Singapore",
            "Asia/Kuala_Lumpur",
            "Asia/Bangkok",
            "Asia/Jakarta",
            "Asia/Ho_Chi_Minh",
            "Asia/Manila",
            "Asia/Kolkata",
            "Asia/Karachi",
            "Asia/Dubai",
            "Asia/Tehran",
            "Asia/Jerusalem",
        ),
    ),
    Region(
        "eu",
        "Europe",
        "欧洲",
        (
            "Europe/London",
            "Europe/Dublin",
            "Europe/Lisbon",
            "Europe/Paris",
            "Europe/Berlin",
            "Europe/Madrid",
            "Europe/Rome",
            "Europe/Amsterdam",
            "Europe/Zurich",
            "Europe/Stockholm",
            "Europe/Warsaw",
            "Europe/Athens",
            "Europe/Helsinki",
            "Europe/Istanbul",
            "Europe/Moscow",
        ),
    ),
    Region(
        "am",
        "Americas",
        "美洲",
        (
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "America/Toronto",
            "America/Vancouver",
            "America/Halifax",
            "America/Mexico_City",
            "America/Bogota",
            "America/Lima",
            "America/Santiago",
            "America/Sao_Paulo",
            "America/Argentina/Buenos_Aires",
        ),
    ),
    Region(
        "oc",
        "Oceania",
        "大洋洲",
        (
            "Australia/Sydney",
            "Australia/Melbourne",
            "Australia/Brisbane",
            "Australia/Adelaide",
            "Australia/Perth",
            "Pacific/Auckland",
            "Pacific/Honolulu",
        ),
    ),
    Region(
        "af",
        "Africa",
        "非洲",
        (
            "Africa/Cairo",
            "Africa/Lagos",
            "Africa/Nairobi",
            "Africa/Johannesburg",
            "Africa/Casablanca",
        ),
    ),
)
BY_CODE: Final[dict[str, Region]] = {r.code: r for r in REGIONS}
#: every zone a button may set (the region lists and UTC)
ZONES: Final[frozenset[str]] = frozenset({UTC_ZONE, *(z for r in REGIONS for z in r.zones)})

ZH_CITIES: Final[dict[str, str]] = {
    "Asia/Shanghai": "上海（北京时间）",
    "Asia/Hong_Kong": "香港",
    "Asia/Taipei": "台北",
    "Asia/Tokyo": "东京",
    "Asia/Seoul": "首尔",
    "Asia/Singapore": "新加坡",
    "Asia/Kuala_Lumpur": "吉隆坡",
    "Asia/Bangkok": "曼谷",
    "Asia/Jakarta": "雅加达",
    "Asia/Ho_Chi_Minh": "胡志明市",
    "Asia/Manila": "马尼拉",
    "Asia/Kolkata": "加尔各答",
    "Asia/Karachi": "卡拉奇",
    "Asia/Dubai": "迪拜",
    "Asia/Tehran": "德黑兰",
    "Asia/Jerusalem": "耶路撒冷",
    "Europe/London": "伦敦",
    "Europe/Dublin": "都柏林",
    "Europe/Lisbon": "里斯本",
    "Europe/Paris": "巴黎",
    "Europe/Berlin": "柏林",
    "Europe/Madrid": "马德里",
    "Europe/Rome": "罗马",
    "Europe/Amsterdam": "阿姆斯特丹",
    "Europe/Zurich": "苏黎世",
    "Europe/Stockholm": "斯德哥尔摩",
    "Europe/Warsaw": "华沙",
    "Europe/Athens": "雅典",
    "Europe/Helsinki": "赫尔辛基",
    "Europe/Istanbul": "伊斯坦布尔",
    "Europe/Moscow": "莫斯科",
    "America/New_York": "纽约",
    "America/Chicago": "芝加哥",
    "America/Denver": "丹佛",
    "America/Phoenix": "菲尼克斯",
    "America/Los_Angeles": "洛杉矶",
    "America/Anchorage": "安克雷奇",
    "America/Toronto": "多伦多",
    "America/Vancouver": "温哥华",
    "America/Halifax": "哈利法克斯",
    "America/Mexico_City": "墨西哥城",
    "America/Bogota": "波哥大",
    "America/Lima": "利马",
    "America/Santiago": "圣地亚哥",
    "America/Sao_Paulo": "圣保罗",
    "America/Argentina/Buenos_Aires": "布宜诺斯艾利斯",
    "Australia/Sydney": "悉尼",
    "Australia/Melbourne": "墨尔本",
    "Australia/Brisbane": "布里斯班",
    "Australia/Adelaide": "阿德莱德",
    "Australia/Perth": "珀斯",
    "Pacific/Auckland": "奥克兰",
    "Pacific/Honolulu": "檀香山",
    "Africa/Cairo": "开罗",
    "Africa/Lagos": "拉各斯",
    "Africa/Nairobi": "内罗毕",
    "Africa/Johannesburg": "约翰内斯堡",
    "Africa/Casablanca": "卡萨布兰卡",
}


def city(name: str, lang: str) -> str:
    """``Asia/Ho_Chi_Minh`` -> "Ho Chi Minh" (English) / "胡志明市" (Chinese); UTC stays UTC."""
    if lang == "zh" and name in ZH_CITIES:
        return ZH_CITIES[name]
    return name.rsplit("/", 1)[-1].replace("_", " ")


def utc_offset(name: str, now: datetime) -> str:
    """The zone's offset at ``now`` (aware): ``UTC+8``, ``UTC−3``, ``UTC+5:30``, ``UTC``."""
    offset = now.astimezone(zone(name)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def label(name: str, lang: str, now: datetime) -> str:
    """A button or settings label: ``Tokyo (UTC+9)``; plain ``UTC`` for UTC."""
    if name == UTC_ZONE:
        return UTC_ZONE
    try:
        return f"{city(name, lang)} ({utc_offset(name, now)})"
    except UnknownTimezone:  # not ours to fix here: shown as stored
        return name


def describe(name: str, now: datetime) -> str:
    """For the settings text: ``Asia/Tokyo (UTC+9)``; ``UTC``."""
    if name == UTC_ZONE:
        return UTC_ZONE
    try:
        return f"{name} ({utc_offset(name, now)})"
    except UnknownTimezone:
        return name


def pages(region: Region) -> int:
    return max(1, -(-len(region.zones) // PAGE_SIZE))


def page_of(region: Region, page: int) -> tuple[str, ...]:
    """The zones on ``page`` (1-based; the caller checked 1 <= page <= pages(region))."""
    return region.zones[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]


def region_of(name: str) -> Region | None:
    return next((r for r in REGIONS if name in r.zones), None)

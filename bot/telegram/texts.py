"""Every fixed string the bot says, in English and Chinese. Dynamic parts are ``{name}``
placeholders filled with already-escaped HTML by the callers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Lang = Literal["en", "zh"]


@dataclass(frozen=True, slots=True)
class Texts:
    lang: Lang
    commands: tuple[tuple[str, str], ...]  # (command, description) for setMyCommands and /help
    welcome: str
    help_heading: str
    unknown_command: str
    usage_week: str
    usage_issue: str
    usage_search: str
    private_only: str
    picks: str
    dripped: str
    nothing_yet: str
    empty_archive: str
    latest: str
    recent_picks: str
    no_picks: str
    results: str  # {query}
    no_results: str  # {query}
    relaxed: str
    page: str  # {page}
    prev: str
    next: str
    more: str  # {count}: entries left out to stay within one message
    subscribed: str
    unsubscribed: str
    settings_heading: str
    state_active: str
    state_inactive: str
    receive_label: str
    receive: dict[str, str]
    quiet_label: str
    quiet_off: str
    quiet_zone: str  # {zone}
    timezone_label: str
    timezone_button: str  # {zone}
    choose_region: str
    choose_zone: str  # {region}
    back: str
    language_label: str
    subscribe_button: str
    unsubscribe_button: str
    saved: str
    stale_button: str
    slow_down: str
    oops: str
    unknown_issue: str  # {key}
    query_too_long: str  # {limit}
    inline_help: str


EN: Final = Texts(
    lang="en",
    commands=(
        ("week", "This week's picks (or /week 2020-39)"),
        ("issue", "One issue: /issue 2020-W39"),
        ("latest", "The newest digest"),
        ("picks", "Recent editor's picks"),
        ("search", "Search the archive: /search QUERY"),
        ("subscribe", "Receive the drip and the weekly digest"),
        ("unsubscribe", "Stop receiving posts"),
        ("settings", "What to receive, quiet hours, time zone, language"),
        ("help", "What I can do"),
    ),
    welcome=(
        "Hi! I keep the archive of a weekly machine-learning digest.\n"
        "/subscribe to receive new papers and the weekly issue, or send me any words to search."
    ),
    help_heading="<b>Commands</b>",
    unknown_command="I don't know that command. /help lists what I can do.",
    usage_week="Usage: /week or /week 2020-39",
    usage_issue="Usage: /issue 2020-W39",
    usage_search="Usage: /search QUERY, for example /search diffusion",
    private_only="Please use this command in a private chat with me.",
    picks="Editor's picks",
    dripped="Posted this week",
    nothing_yet="nothing yet",
    empty_archive="The archive is empty for now.",
    latest="Newest digest",
    recent_picks="Recent editor's picks",
    no_picks="No editor's picks yet.",
    results="Results for <b>{query}</b>",
    no_results="Nothing found for <b>{query}</b>.",
    relaxed="No result has every word; showing results with any of them.",
    page="page {page}",
    prev="« Prev",
    next="Next »",
    more="… and {count} more",
    subscribed="Subscribed. /settings chooses what you receive and when.",
    unsubscribed="Unsubscribed: you will receive nothing more. /subscribe to come back.",
    settings_heading="<b>Settings</b>",
    state_active="Subscribed",
    state_inactive="Not subscribed",
    receive_label="Receive",
    receive={"both": "Papers + digest", "drip": "Papers", "digest": "Weekly digest"},
    quiet_label="Quiet hours",
    quiet_off="off",
    quiet_zone="times in {zone}",
    timezone_label="Time zone",
    timezone_button="🌐 Time zone: {zone}",
    choose_region="Quiet hours follow your time zone. Choose your region:",
    choose_zone="Choose your time zone ({region}):",
    back="« Back",
    language_label="Language",
    subscribe_button="Subscribe",
    unsubscribe_button="Unsubscribe",
    saved="Saved",
    stale_button="This button has expired. Please send the command again.",
    slow_down="Too many messages: please slow down and try again in a minute.",
    oops="Something went wrong on my side. Please try again later.",
    unknown_issue="No issue {key} in the archive. Try /week or /latest.",
    query_too_long="That query is too long: at most {limit} characters.",
    inline_help="Open the bot",
)

ZH: Final = Texts(
    lang="zh",
    commands=(
        ("week", "本周精选（或 /week 2020-39）"),
        ("issue", "查看某一期：/issue 2020-W39"),
        ("latest", "最新一期"),
        ("picks", "近期编辑精选"),
        ("search", "搜索存档：/search 关键词"),
        ("subscribe", "订阅论文推送和每周简报"),
        ("unsubscribe", "取消订阅"),
        ("settings", "接收内容、免打扰时段、时区、语言"),
        ("help", "使用说明"),
    ),
    welcome=(
        "你好！我保存着每周机器学习简报的全部存档。\n"
        "发送 /subscribe 订阅新论文和每周简报，或直接发送关键词搜索。"
    ),
    help_heading="<b>命令</b>",
    unknown_command="不认识这个命令。发送 /help 查看可用命令。",
    usage_week="用法：/week 或 /week 2020-39",
    usage_issue="用法：/issue 2020-W39",
    usage_search="用法：/search 关键词，例如 /search 扩散模型",
    private_only="请在与我的私聊中使用这个命令。",
    picks="编辑精选",
    dripped="本周已推送",
    nothing_yet="暂无",
    empty_archive="存档暂时是空的。",
    latest="最新一期",
    recent_picks="近期编辑精选",
    no_picks="还没有编辑精选。",
    results="<b>{query}</b> 的搜索结果",
    no_results="没有找到 <b>{query}</b>。",
    relaxed="没有同时包含所有词的结果；以下结果包含其中任意一个词。",
    page="第 {page} 页",
    prev="« 上一页",
    next="下一页 »",
    more="……还有 {count} 条",
    subscribed="已订阅。发送 /settings 选择接收内容和时间。",
    unsubscribed="已取消订阅，不会再收到推送。发送 /subscribe 重新订阅。",
    settings_heading="<b>设置</b>",
    state_active="已订阅",
    state_inactive="未订阅",
    receive_label="接收",
    receive={"both": "论文 + 简报", "drip": "仅论文", "digest": "仅每周简报"},
    quiet_label="免打扰",
    quiet_off="关闭",
    quiet_zone="时区 {zone}",
    timezone_label="时区",
    timezone_button="🌐 时区：{zone}",
    choose_region="免打扰时段按你所在的时区计算。请选择地区：",
    choose_zone="请选择时区（{region}）：",
    back="« 返回",
    language_label="语言",
    subscribe_button="订阅",
    unsubscribe_button="取消订阅",
    saved="已保存",
    stale_button="这个按钮已过期，请重新发送命令。",
    slow_down="消息太多了，请稍等一分钟再试。",
    oops="出了点问题，请稍后再试。",
    unknown_issue="存档中没有 {key} 这一期。试试 /week 或 /latest。",
    query_too_long="搜索词太长了：最多 {limit} 个字符。",
    inline_help="打开机器人",
)

TEXTS: Final[dict[Lang, Texts]] = {"en": EN, "zh": ZH}
LANGUAGE_NAMES: Final[dict[Lang, str]] = {"en": "English", "zh": "中文"}


def texts(lang: str) -> Texts:
    return ZH if lang == "zh" else EN

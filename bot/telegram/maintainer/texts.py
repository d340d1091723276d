"""Every fixed string of the maintainer commands, in English and Chinese. ``{name}``
placeholders are filled with plain text by the callers (escaped when rendered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.telegram.texts import Lang


@dataclass(frozen=True, slots=True)
class MaintTexts:
    lang: Lang
    commands: tuple[tuple[str, str], ...]  # maintainer commands for their chat's menu
    not_allowed: str
    hint_edited: str
    hint_forwarded: str
    hint_private: str
    not_set_up: str
    stale: str
    done: str
    usage: dict[str, str]  # command -> usage line
    queue_heading: str  # {total}
    queue_page: str  # {page} {pages}
    queue_paused: str
    queue_empty: str
    queue_cost: str  # {posts} {usd} {budget}
    queue_over_budget: str
    queue_sent: str  # {count}
    pick: str
    digest: str
    b_edit: str
    b_up: str
    b_down: str
    b_top: str
    b_now: str
    b_drop: str
    b_prev: str
    b_next: str
    edit_hint: str  # {id}
    added: str  # {id}
    dropped: str  # {id}
    moved: str  # {id} {pos}
    topped: str  # {id}
    shuffled: str
    paused: str
    resumed: str
    resumed_platform: str  # {platform}
    proposal: str  # {paper} {source}
    proposal_none: str  # {paper}
    your_comment: str  # {paper}
    b_add: str
    b_cancel: str
    cancelled: str
    warnings: str
    refused: str
    slots_heading: str
    slots_times: str  # {times}
    slots_days: str  # {days}
    slots_zone: str  # {zone}
    slots_overridden: str
    slots_config: str
    slots_next: str
    b_reset: str
    preview_x: str  # {weight} {verdict}
    preview_x_skipped: str  # {reason}
    preview_valid: str
    preview_invalid: str
    preview_telegram: str
    import_prompt: str
    import_bad_file: str  # {name}
    import_too_big: str  # {limit}
    import_new: str  # {count}
    b_enqueue: str  # {key}
    b_plan: str  # {key}
    enqueued: str  # {papers} {digests}
    b_skip_issue: str  # {key}
    issue_skipped: str  # {key}
    status_heading: str
    status_next_paper: str
    status_next_digest: str
    status_waiting: str  # {destination} {count}
    status_next_due: str  # {when}
    status_pause: str  # {platform} {until} {reason}
    status_x: str  # {today} {cap} {spent} {budget}
    status_problems: str  # {shown} {total}
    status_problem: str  # {id} {destination} {state} {attempts} {reason}
    status_recent: str
    b_resume: str  # {platform}
    b_resume_queue: str
    stats_caption: str
    audit_heading: str
    audit_empty: str
    alert_prefix: str
    b_retry: str
    b_reschedule: str
    b_skip: str
    b_status: str
    retried: str  # {id}
    rescheduled: str  # {id} {when}
    skipped: str  # {id} {count}
    release_lines: str  # {id}
    sending: str  # {id}
    failed: str  # {id}


_USAGE_EN: Final = {
    "add": "Usage: /add URL [comment]",
    "edit": "Usage: /edit ID new text",
    "drop": "Usage: /drop ID",
    "move": "Usage: /move ID POSITION (1 = next)",
    "top": "Usage: /top ID",
    "now": "Usage: /now ID",
    "preview": "Usage: /preview ID",
    "slots": "Usage: /slots, /slots 09:00 13:00, /slots days mon tue wed, /slots reset",
    "audit": "Usage: /audit or /audit N (at most 100)",
    "queue": "Usage: /queue or /queue PAGE",
    "import": "Usage: /import URL, or send a .md/.txt file with the caption /import",
}
_USAGE_ZH: Final = {
    "add": "用法：/add 链接 [评语]",
    "edit": "用法：/edit 编号 新文本",
    "drop": "用法：/drop 编号",
    "move": "用法：/move 编号 位置（1 = 下一条）",
    "top": "用法：/top 编号",
    "now": "用法：/now 编号",
    "preview": "用法：/preview 编号",
    "slots": "用法：/slots、/slots 09:00 13:00、/slots days mon tue wed、/slots reset",
    "audit": "用法：/audit 或 /audit N（最多 100）",
    "queue": "用法：/queue 或 /queue 页码",
    "import": "用法：/import 链接，或发送 .md/.txt 文件并附上说明 /import",
}

MAINT_EN: Final = MaintTexts(
    lang="en",
    commands=(
        ("queue", "Maintainer: the queue, with buttons"),
        ("add", "Maintainer: /add URL [comment]"),
        ("edit", "Maintainer: /edit ID text"),
        ("drop", "Maintainer: /drop ID"),
        ("move", "Maintainer: /move ID POSITION"),
        ("top", "Maintainer: /top ID"),
        ("shuffle", "Maintainer: shuffle the queued papers"),
        ("now", "Maintainer: /now ID posts at once"),
        ("pause", "Maintainer: stop releasing posts"),
        ("resume", "Maintainer: release posts again"),
        ("slots", "Maintainer: view and change posting slots"),
        ("undo", "Maintainer: undo the last queue change"),
        ("preview", "Maintainer: /preview ID, the exact posts"),
        ("import", "Maintainer: import a digest file or URL"),
        ("status", "Maintainer: what is next, what waits"),
        ("stats", "Maintainer: subscribers, posts, spend, chart"),
        ("audit", "Maintainer: who changed what"),
    ),
    not_allowed="Not allowed: this command is for the maintainers of this bot.",
    hint_edited="Edited messages are not run: send the command again.",
    hint_forwarded="Forwarded commands are not run: type the command yourself.",
    hint_private="Maintainer commands work only in your private chat with me.",
    not_set_up="Maintainer commands are not set up in this process.",
    stale="This button has expired. Please send the command again.",
    done="Done",
    usage=_USAGE_EN,
    queue_heading="Queue · {total} open posts",
    queue_page="page {page}/{pages}",
    queue_paused="PAUSED: /resume releases posts again",
    queue_empty="The queue is empty. /add URL or /import a digest.",
    queue_cost="Expected X: {posts} posts/month, ${usd}/month (budget ${budget})",
    queue_over_budget="over the X budget!",
    queue_sent="Sent so far: {count} posts",
    pick="⭐",
    digest="digest",
    b_edit="Edit #{id}",
    b_up="Up",
    b_down="Down",
    b_top="Top",
    b_now="Now",
    b_drop="Drop",
    b_prev="« Prev",
    b_next="Next »",
    edit_hint="Send /edit {id} followed by the new text. The current text:",
    added="Queued post {id}.",
    dropped="Dropped post {id}.",
    moved="Moved post {id} to position {pos}.",
    topped="Post {id} is next.",
    shuffled="Shuffled the queued papers.",
    paused="Paused: no post is released until /resume.",
    resumed="Resumed: posts are released again.",
    resumed_platform="Resumed {platform}.",
    proposal="Proposed comment for {paper} (from {source}):",
    proposal_none="No comment to propose for {paper}: send /add URL your comment.",
    your_comment="Your comment for {paper}:",
    b_add="Add",
    b_cancel="Cancel",
    cancelled="Cancelled.",
    warnings="Warnings:",
    refused="Not queued.",
    slots_heading="Posting slots",
    slots_times="Times: {times}",
    slots_days="Days: {days}",
    slots_zone="Time zone: {zone}",
    slots_overridden="set by a maintainer (/slots reset goes back to the config)",
    slots_config="from the config file",
    slots_next="Next slots:",
    b_reset="Reset to config",
    preview_x="X ({weight}/280, {verdict}):",
    preview_x_skipped="X: not posted ({reason})",
    preview_valid="valid",
    preview_invalid="INVALID",
    preview_telegram="Telegram: the exact message follows.",
    import_prompt="Send the .md or .txt digest file (caption /import), or /import URL.",
    import_bad_file="Cannot import {name}: send a .md or .txt file.",
    import_too_big="That file is too big: at most {limit} KB.",
    import_new="{count} new papers not queued yet.",
    b_enqueue="Enqueue new papers {key}",
    b_plan="Plan weekly post {key}",
    enqueued="Queued {papers} paper posts and {digests} digest posts.",
    b_skip_issue="Skip {key}",
    issue_skipped="Skipped {key}: nothing queued.",
    status_heading="Status",
    status_next_paper="next paper",
    status_next_digest="next digest",
    status_waiting="{destination}: {count} waiting",
    status_next_due=" (next {when})",
    status_pause="{platform} paused until {until}: {reason}",
    status_x="X: {today}/{cap} posts today · ${spent} of ${budget} this month",
    status_problems="Needs you ({shown} of {total}):",
    status_problem="• post {id} to {destination} {state} ({attempts} attempts): {reason}",
    status_recent="Last posts:",
    b_resume="Resume {platform}",
    b_resume_queue="Resume the queue",
    stats_caption="Last 12 weeks",
    audit_heading="Audit log (newest first)",
    audit_empty="No change recorded yet.",
    alert_prefix="digestbot: ",
    b_retry="Retry",
    b_reschedule="Reschedule",
    b_skip="Skip",
    b_status="Status",
    retried="Retrying post {id}.",
    rescheduled="Post {id} goes out again at {when}.",
    skipped="Skipped post {id}: {count} deliveries given up.",
    release_lines="Post {id}:",
    sending="Sending post {id} now; the report follows.",
    failed="Sending post {id} failed on my side; see the log.",
)

MAINT_ZH: Final = MaintTexts(
    lang="zh",
    commands=(
        ("queue", "维护：查看队列（带按钮）"),
        ("add", "维护：/add 链接 [评语]"),
        ("edit", "维护：/edit 编号 文本"),
        ("drop", "维护：/drop 编号"),
        ("move", "维护：/move 编号 位置"),
        ("top", "维护：/top 编号"),
        ("shuffle", "维护：打乱待发论文顺序"),
        ("now", "维护：/now 编号 立即发布"),
        ("pause", "维护：暂停发布"),
        ("resume", "维护：恢复发布"),
        ("slots", "维护：查看和修改发布时段"),
        ("undo", "维护：撤销上一次队列修改"),
        ("preview", "维护：/preview 编号 预览帖子"),
        ("import", "维护：导入简报文件或链接"),
        ("status", "维护：接下来发什么、什么在等待"),
        ("stats", "维护：订阅者、帖子、花费、图表"),
        ("audit", "维护：谁改了什么"),
    ),
    not_allowed="无权限：这个命令只供本机器人的维护者使用。",
    hint_edited="编辑过的消息不会执行：请重新发送命令。",
    hint_forwarded="转发的命令不会执行：请自己输入命令。",
    hint_private="维护命令只能在与我的私聊中使用。",
    not_set_up="本进程没有启用维护命令。",
    stale="这个按钮已过期，请重新发送命令。",
    done="完成",
    usage=_USAGE_ZH,
    queue_heading="队列 · 共 {total} 条待发",
    queue_page="第 {page}/{pages} 页",
    queue_paused="已暂停：发送 /resume 恢复发布",
    queue_empty="队列是空的。发送 /add 链接 或 /import 导入简报。",
    queue_cost="预计 X：每月 {posts} 条，${usd}/月（预算 ${budget}）",
    queue_over_budget="超出 X 预算！",
    queue_sent="已发送 {count} 条",
    pick="⭐",
    digest="简报",
    b_edit="编辑 #{id}",
    b_up="上移",
    b_down="下移",
    b_top="置顶",
    b_now="立即",
    b_drop="删除",
    b_prev="« 上一页",
    b_next="下一页 »",
    edit_hint="发送 /edit {id} 加上新文本。当前文本：",
    added="已加入队列：{id} 号。",
    dropped="已删除 {id} 号。",
    moved="已把 {id} 号移到第 {pos} 位。",
    topped="{id} 号将是下一条。",
    shuffled="已打乱待发论文的顺序。",
    paused="已暂停：发送 /resume 之前不会发布。",
    resumed="已恢复发布。",
    resumed_platform="已恢复 {platform}。",
    proposal="{paper} 的建议评语（来自 {source}）：",
    proposal_none="无法为 {paper} 提供评语：请发送 /add 链接 评语。",
    your_comment="你为 {paper} 写的评语：",
    b_add="加入",
    b_cancel="取消",
    cancelled="已取消。",
    warnings="注意：",
    refused="未加入队列。",
    slots_heading="发布时段",
    slots_times="时间：{times}",
    slots_days="日期：{days}",
    slots_zone="时区：{zone}",
    slots_overridden="由维护者设置（/slots reset 恢复配置文件的设置）",
    slots_config="来自配置文件",
    slots_next="接下来的时段：",
    b_reset="恢复配置",
    preview_x="X（{weight}/280，{verdict}）：",
    preview_x_skipped="X：不发布（{reason}）",
    preview_valid="有效",
    preview_invalid="无效",
    preview_telegram="Telegram：下一条就是实际发送的消息。",
    import_prompt="请发送 .md 或 .txt 简报文件（说明写 /import），或发送 /import 链接。",
    import_bad_file="无法导入 {name}：请发送 .md 或 .txt 文件。",
    import_too_big="文件太大：最多 {limit} KB。",
    import_new="{count} 篇新论文尚未加入队列。",
    b_enqueue="加入新论文 {key}",
    b_plan="安排每周简报 {key}",
    enqueued="已加入 {papers} 条论文帖和 {digests} 条简报帖。",
    b_skip_issue="跳过 {key}",
    issue_skipped="已跳过 {key}：未加入队列。",
    status_heading="状态",
    status_next_paper="下一篇论文",
    status_next_digest="下一期简报",
    status_waiting="{destination}：{count} 条等待中",
    status_next_due="（下次 {when}）",
    status_pause="{platform} 暂停至 {until}：{reason}",
    status_x="X：今天 {today}/{cap} 条 · 本月 ${spent} / ${budget}",
    status_problems="需要处理（{shown} / {total}）：",
    status_problem="• {id} 号发往 {destination} {state}（尝试 {attempts} 次）：{reason}",
    status_recent="最近发布：",
    b_resume="恢复 {platform}",
    b_resume_queue="恢复队列",
    stats_caption="最近 12 周",
    audit_heading="审计日志（最新在前）",
    audit_empty="还没有任何修改记录。",
    alert_prefix="digestbot：",
    b_retry="重试",
    b_reschedule="改期",
    b_skip="跳过",
    b_status="状态",
    retried="正在重试 {id} 号。",
    rescheduled="{id} 号将在 {when} 重新发送。",
    skipped="已跳过 {id} 号：放弃了 {count} 个投递。",
    release_lines="{id} 号：",
    sending="正在发送 {id} 号，稍后报告结果。",
    failed="发送 {id} 号时出错，请查看日志。",
)


def maint_texts(lang: str) -> MaintTexts:
    return MAINT_ZH if lang == "zh" else MAINT_EN

"""Large imports parse in a worker process while batches are written: same results."""

from __future__ import annotations

import re

from bot.app import Container
from bot.services.archive import PARALLEL_FROM_BATCHES, WRITE_BATCH
from tests.conftest import FIXTURES


def _weeks(n: int) -> list[tuple[str, str]]:
    text = (FIXTURES / "digests" / "english_weekly.md").read_text()
    out = []
    for i in range(n):
        year, week = 2000 + i // 50, 1 + i % 50
        body = re.sub(r"#Week \d+, \d{4}", f"#Week {week}, {year}", text, count=1)
        body = body.replace("week-41-2020", f"week-{week}-{year}")
        out.append((f"week-{year}-{week}.md", body))
    return out


async def test_bulk_import_through_the_parser_process(app: Container) -> None:
    count = WRITE_BATCH * PARALLEL_FROM_BATCHES + 7
    texts = _weeks(count)
    texts.insert(60, ("junk.md", "this is not a digest at all"))
    report = await app.archive.import_texts(texts)
    assert len(report.added) == count
    assert [name for name, _ in report.failed] == ["junk.md"]
    assert "not a digest" in report.failed[0][1]
    issues = await app.archive.issues()
    assert len(issues) == count and issues[0].key == "2003-W07"
    again = await app.archive.import_texts(texts)
    assert len(again.unchanged) == count and not again.added

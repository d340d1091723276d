"""Facts about the three shared seed digests (Chinese translations of real issues).

The seeds live outside the repository (``../shared/seeds``); the tests skip when absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.domain.digest import parse_digest
from bot.domain.model import ParsedIssue

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"


def _seed(prefix: str) -> Path:
    if not SEEDS.is_dir():
        pytest.skip(f"needs ../shared/seeds beside the checkout ({SEEDS})")
    found = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not found:
        pytest.skip(f"needs the seed {prefix}_*.txt in ../shared/seeds ({SEEDS})")
    return found[0]


def _parse(prefix: str) -> tuple[ParsedIssue, str]:
    path = _seed(prefix)
    text = path.read_text(encoding="utf-8")
    return parse_digest(text, source=path.name), text


def _sections(issue: ParsedIssue) -> dict[str, int]:
    return dict(Counter(item.section for item in issue.items))


def _item_headings(text: str) -> int:
    """Level-1 headings in the text that are neither titles, sections nor navigation."""
    skip = ("周", "月", "主题", "编辑精选", "过去的文章", "推特")
    count = 0
    for line in text.splitlines():
        if not line.startswith("# "):
            continue
        heading = line[2:].strip()
        if heading[:1].isdigit() and heading[1:2] == ".":
            continue
        if heading.startswith("Akira") or any(word in heading for word in skip):
            continue
        count += 1
    return count


@pytest.mark.parametrize("prefix", ["000", "002", "003"])
def test_no_item_is_lost(prefix: str) -> None:
    issue, text = _parse(prefix)
    assert len(issue.items) == _item_headings(text)
    assert [item.position for item in issue.items] == list(range(1, len(issue.items) + 1))
    for item in issue.items:
        assert item.headline and "*" not in item.headline
        assert item.summary, item.headline
        assert item.url is None or "source=" not in item.url


def test_week_39() -> None:
    issue, _ = _parse("000")
    assert (issue.key, issue.kind, issue.week, issue.month) == ("2020-W39", "weekly", 39, None)
    assert issue.url == (
        "https://medium.com/analytics-vidhya/akiras-ml-news-week-39-2020-39bcee90cf9e"
    )
    assert _sections(issue) == {"papers": 7, "articles": 4, "use_cases": 2, "other": 2}
    assert issue.picks == () and issue.neighbours == ()
    papers = [item.paper for item in issue.items if item.section == "papers"]
    assert papers == [
        "arxiv:2009.04433",
        "arxiv:2009.04759",
        "arxiv:2009.08454",
        "arxiv:2009.05697",
        "arxiv:2005.14140",
        "arxiv:2009.05041",
        "arxiv:2009.06732",
    ]
    by_head = {item.headline: item for item in issue.items}
    nlp = by_head["自然语言的未来处理"]
    assert nlp.url is None and nlp.paper is None
    assert any("自然语言的未来处理" in w for w in issue.warnings)
    assert next(i for i in issue.items if "裁判" in i.headline).section == "use_cases"
    face = by_head["人脸生物识别和体温扫描"]
    assert face.url is not None and face.url.startswith("https://www.biometricupdate.com/")
    assert face.summary.startswith("Barcom ")
    neurips = issue.items[-1]
    assert neurips.url == (
        "https://medium.com/@NeurIPSConf/neurips-registration-opens-soon-67111581de99"
    )
    assert all("github.com" not in (item.url or "") for item in issue.items)
    gpu = issue.items[7]
    assert gpu.url is not None and gpu.url.startswith("https://medium.com/neuro-ai/")
    assert gpu.title is not None and gpu.title.startswith("常见 ML vision 模型")


def test_week_50_picks_and_neighbours() -> None:
    issue, _ = _parse("002")
    assert (issue.key, issue.kind, issue.week) == ("2020-W50", "weekly", 50)
    assert (
        issue.url == "https://medium.com/analytics-vidhya/akiras-ml-news-week50-2020-2091f11a72a9"
    )
    assert _sections(issue) == {"papers": 7, "articles": 1, "use_cases": 2, "other": 1}
    assert issue.picks == (
        "arxiv:2011.14036",
        "https://distill.pub/2020/circuits/equivariance",
        "https://hbr.org/2020/10/when-do-we-trust-ais-recommendations-more-than-peoples",
    )
    picked = [item.headline for item in issue.items if item.pick]
    assert len(picked) == 3  # in order: diagnosis, neurons, human vs machine advice
    assert "诊断" in picked[0] and "神经元" in picked[1] and "建议" in picked[2]
    assert [item.paper for item in issue.items if item.pick] == list(issue.picks)
    assert len(issue.neighbours) == 5
    assert "https://medium.com/analytics-vidhya/akiras-ml-news-week51-2020-6fb82b15642d" in (
        issue.neighbours
    )
    assert all(url.startswith("https://medium.com/analytics-vidhya/") for url in issue.neighbours)


def test_week_50_messy_links() -> None:
    issue, _ = _parse("002")
    batch = issue.items[1]
    assert batch.paper == "arxiv:1811.03600"
    assert batch.title is not None and "数据并行" in batch.title and "训练" in batch.title
    quake = issue.items[4]
    assert quake.url == (
        "https://www.unavco.org/projects/major-projects/earthcube/geosciframework/"
        "Fauvel_etal_AAAI2020_Distributed_Multi-Sensor_Machine_Learning_Approach_to_"
        "Earthquake_Early_Warning.pdf"
    )
    assert any(quake.headline in w and "broken by spaces" in w for w in issue.warnings)


def test_september_monthly() -> None:
    issue, _ = _parse("003")
    assert (issue.key, issue.kind, issue.week, issue.month) == ("2020-09", "monthly", None, 9)
    assert issue.url == (
        "https://medium.com/analytics-vidhya/akiras-ml-news-september-2020-80ed65bd7ea4"
    )
    assert _sections(issue) == {"papers": 12, "articles": 2}
    by_head = {item.headline: item for item in issue.items}
    dft = by_head["密度泛函理论和机器学习"]
    assert dft.url == "https://arxiv.org/abs/2009.08551"
    assert dft.paper == "arxiv:2009.08551"
    brain = by_head["为语言生成解码大脑活动"]
    assert brain.paper == "arxiv:2009.04765"
    assert brain.title == "Brain2Word:解码语言生成的大脑活动"
    assert brain.summary.startswith("一项理解从 fMRI 图像中看到的字母的研究")
    assert all("t.co" not in (item.url or "") for item in issue.items)


def test_monthly_repeats_weekly_papers() -> None:
    weekly, _ = _parse("000")
    monthly, _ = _parse("003")
    weekly_papers = {item.paper for item in weekly.items if item.section == "papers"}
    monthly_papers = {item.paper for item in monthly.items if item.section == "papers"}
    assert weekly_papers - monthly_papers == {"arxiv:2005.14140"}
    assert len(weekly_papers & monthly_papers) == 6

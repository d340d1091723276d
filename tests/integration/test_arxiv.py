"""``/add`` proposals: the archive's headline, else title + first sentence from the arXiv API
(a fake served on 127.0.0.1: success, timeout, 503, malformed XML), warnings when the paper is
already covered, queued or posted."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from bot.app import Container
from bot.cli import main
from bot.config import ArxivSettings
from bot.domain.arxiv_feed import first_sentence
from bot.sandbox import ServerThread, running
from bot.sandbox.arxiv_api import ArxivState, make_arxiv_app
from bot.services.arxiv import ArxivClient, ArxivError
from bot.services.proposal import ProposalService
from bot.services.queue import MAX_X_WEIGHT, QueueError
from bot.store.models import Post
from tests.builders import item, store, weekly

TITLE = "Sparse Mixtures of Tiny Experts"
ABSTRACT = (
    "We show that tiny experts, e.g. two-layer MLPs, match dense models at a tenth of the "
    "cost. Our second sentence must not appear in the proposal. A third one neither."
)


class NoSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def arxiv_state() -> ArxivState:
    return ArxivState(papers={"2605.01234": (TITLE, ABSTRACT)})


@pytest.fixture
async def arxiv_url(arxiv_state: ArxivState) -> AsyncIterator[str]:
    async with running(make_arxiv_app(arxiv_state)) as base_url:
        yield base_url


def service(app: Container, base_url: str, sleep: NoSleep, **arxiv: float) -> ProposalService:
    settings = ArxivSettings(api_base_url=base_url, **arxiv)  # type: ignore[arg-type]
    return ProposalService(
        app.sessions, app.queue, settings, client=lambda: ArxivClient(settings, sleep=sleep)
    )


async def test_arxiv_title_and_first_sentence(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    proposal = await service(app, arxiv_url, NoSleep()).propose(
        "https://arxiv.org/pdf/2605.01234v2"
    )
    assert proposal.source == "arxiv" and proposal.paper == "arxiv:2605.01234"
    assert proposal.text == f"{TITLE}: {ABSTRACT.split(' Our')[0]}"
    assert proposal.warnings == [] and not proposal.blocked
    assert arxiv_state.requests == ["2605.01234"]
    # and the proposal is accepted as it is
    post = await app.queue.add(proposal.url, proposal.text)
    assert post > 0


async def test_archive_headline_wins_and_coverage_is_warned(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    await store(app, weekly("2020-W39", [item(1, "Tiny experts, big wins.", arxiv="2605.01234")]))
    proposal = await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.01234v3")
    assert proposal.source == "archive" and proposal.text == "Tiny experts, big wins."
    assert proposal.warnings == ["already covered in 2020-W39"]
    assert arxiv_state.requests == []  # arXiv is not asked
    await app.queue.enqueue_issues(["2020-W39"])
    again = await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.01234")
    assert again.blocked and any("already queued as post" in w for w in again.warnings)
    async with app.sessions.begin() as session:
        await session.execute(update(Post).where(Post.kind == "paper").values(state="sent"))
    sent = await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.01234")
    assert any("already posted" in w for w in sent.warnings)


async def test_long_abstracts_are_cut_to_fit_x(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    arxiv_state.papers["2605.09999"] = ("T" * 50, "word " * 400 + "end.")
    proposal = await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.09999")
    assert proposal.text is not None and proposal.text.endswith("…")
    assert app.queue.x_weight(proposal.text, proposal.url, proposal.paper) <= MAX_X_WEIGHT


async def test_timeout_is_retried_then_reported(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    arxiv_state.mode = "timeout"
    sleep = NoSleep()
    with pytest.raises(ArxivError, match=r"arXiv is unreachable: no answer within 0.2 s after 2"):
        await service(app, arxiv_url, sleep, timeout_seconds=0.2, retries=1).propose(
            "https://arxiv.org/abs/2605.01234"
        )
    assert len(arxiv_state.requests) == 2 and sleep.waits == [1.0]


async def test_503_is_retried_and_a_later_success_is_used(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    arxiv_state.fail_first = 2
    sleep = NoSleep()
    proposal = await service(app, arxiv_url, sleep, retries=2).propose(
        "https://arxiv.org/abs/2605.01234"
    )
    assert proposal.source == "arxiv" and len(arxiv_state.requests) == 3
    assert sleep.waits == [1.0, 2.0]


async def test_503_for_good_is_a_clear_error(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    arxiv_state.mode = "503"
    with pytest.raises(ArxivError, match=r"busy \(HTTP 503\) after 3 tries"):
        await service(app, arxiv_url, NoSleep(), retries=2).propose(
            "https://arxiv.org/abs/2605.01234"
        )


async def test_malformed_xml_and_unknown_ids(
    app: Container, arxiv_url: str, arxiv_state: ArxivState
) -> None:
    arxiv_state.mode = "malformed"
    with pytest.raises(ArxivError, match="cannot be used: malformed XML"):
        await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.01234")
    assert len(arxiv_state.requests) == 1  # not retried: the answer will not improve
    arxiv_state.mode = "ok"
    with pytest.raises(ArxivError, match="arXiv answered with an error"):
        await service(app, arxiv_url, NoSleep()).propose("https://arxiv.org/abs/2605.07777")


async def test_unreachable_server(app: Container) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ArxivError, match="arXiv is unreachable: unreachable"):
        await service(app, closed, NoSleep(), retries=1).propose("https://arxiv.org/abs/2605.01234")


async def test_non_arxiv_and_bad_urls(app: Container, arxiv_url: str) -> None:
    proposal = await service(app, arxiv_url, NoSleep()).propose("https://example.org/post")
    assert proposal.text is None and proposal.source == "none"
    assert "write one" in proposal.warnings[0]
    for bad in ("", "ftp://x.org/a", "javascript:alert(1)", "<b>hi</b>", "https://" + "a" * 3000):
        with pytest.raises(QueueError):
            await service(app, arxiv_url, NoSleep()).propose(bad)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("One. Two.", "One."),
        ("We use e.g. cats. Then dogs.", "We use e.g. cats."),
        ("Smith et al. show this! More.", "Smith et al. show this!"),
        ("J. Doe asks why? Answer.", "J. Doe asks why?"),
        ("No full stop at all", "No full stop at all"),
        ("  spaced \n out.  Next.", "spaced out."),
    ],
)
def test_first_sentence(text: str, first: str) -> None:
    assert first_sentence(text) == first


def test_cli_propose_against_the_fake(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ArxivState(papers={"2605.01234": (TITLE, ABSTRACT)})
    with ServerThread(make_arxiv_app(state)) as base_url:
        monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
        monkeypatch.setenv("DIGESTBOT_ARXIV__API_BASE_URL", base_url)
        assert main(["queue", "propose", "https://arxiv.org/abs/2605.01234", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["text"].startswith(TITLE) and data["source"] == "arxiv"
        state.mode = "malformed"
        assert main(["queue", "propose", "https://arxiv.org/abs/2605.01234"]) == 1
        err = capsys.readouterr().err
        assert "cannot be used" in err and "Traceback" not in err

"""Tests for URL normalization, link resolution and paper identity."""

from __future__ import annotations

import pytest

from bot.domain.papers import (
    arxiv_id,
    is_paper_url,
    is_shortener,
    normalize_url,
    paper_identity,
    resolve_link,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://arxiv.org/abs/2009.05697",
        "https://arxiv.org/abs/2009.05697v3",
        "https://arxiv.org/pdf/2009.05697",
        "https://arxiv.org/pdf/2009.05697v2",
        "https://arxiv.org/pdf/2009.05697.pdf",
        "https://arxiv.org/pdf/2009.05697v2.pdf",
        "http://export.arxiv.org/abs/2009.05697",
        "https://www.arxiv.org/abs/2009.05697/",
        "HTTPS://ARXIV.ORG/abs/2009.05697#section",
        "https://arxiv.org/abs/2009.05697?utm_source=x",
        "  https://arxiv.org/abs/2009.05697  ",
        "arxiv:2009.05697",
    ],
)
def test_arxiv_variants_share_one_identity(url: str) -> None:
    assert paper_identity(url) == "arxiv:2009.05697"


def test_old_style_and_five_digit_arxiv_ids() -> None:
    assert paper_identity("https://arxiv.org/abs/hep-th/9901001v2") == "arxiv:hep-th/9901001"
    assert paper_identity("https://arxiv.org/pdf/math.GT/0309136.pdf") == "arxiv:math.GT/0309136"
    assert paper_identity("https://arxiv.org/abs/2101.00001") == "arxiv:2101.00001"
    assert paper_identity("https://arxiv.org/abs/1811.03600") == "arxiv:1811.03600"


def test_arxiv_non_paper_pages_fall_back_to_the_url() -> None:
    assert paper_identity("https://arxiv.org/list/cs.LG/recent") == (
        "https://arxiv.org/list/cs.LG/recent"
    )
    assert paper_identity("https://arxiv.org/abs/2009.056971") == (
        "https://arxiv.org/abs/2009.056971"
    )
    assert arxiv_id("https://notarxiv.org/abs/2009.05697") is None


def test_glued_text_after_an_arxiv_id_is_ignored() -> None:
    assert paper_identity("https://arxiv.org/abs/2009.04765Some") == "arxiv:2009.04765"


def test_normalize_lowercases_scheme_and_host_but_not_path() -> None:
    assert normalize_url("HTTPS://Example.COM/Path/To") == "https://example.com/Path/To"


def test_normalize_drops_default_port_fragment_and_trailing_slash() -> None:
    assert normalize_url("https://example.com:443/a/b/#frag") == "https://example.com/a/b"
    assert normalize_url("http://example.com:80/") == "http://example.com/"
    assert normalize_url("https://example.com") == "https://example.com/"
    assert normalize_url("https://example.com:8443/x") == "https://example.com:8443/x"


def test_normalize_drops_tracking_params_and_keeps_others_in_order() -> None:
    url = (
        "https://medium.com/p/abc?source=collection_archive---------23-----"
        "&z=1&utm_source=tw&UTM_Medium=x&a=2&fbclid=q&gclid=r&ref=hn&amp=1&usp=sharing"
    )
    assert normalize_url(url) == "https://medium.com/p/abc?z=1&a=2"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "https://www . una VCO . org/projects/x.pdf",
        "https://",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "/relative/path",
        "example.com/no-scheme",
        "https://www/no-dot",
        "https://exa<mple>.com/",
        'https://example.com/"quoted"',
        "https://example.com:99999/",
        "https://example.com/" + "a" * 5000,
    ],
)
def test_normalize_rejects_unusable_urls(url: str) -> None:
    assert normalize_url(url) is None
    assert paper_identity(url) is None


def test_paper_identity_of_plain_pages_is_the_normalized_url() -> None:
    assert paper_identity("https://distill.pub/2020/circuits/equivariance/") == (
        "https://distill.pub/2020/circuits/equivariance"
    )
    assert (
        paper_identity("https://drive.google.com/file/d/1GP2mIou/view?usp=sharing")
        == "https://drive.google.com/file/d/1GP2mIou/view"
    )


def test_resolve_relative_medium_links() -> None:
    assert resolve_link("/@NeurIPSConf/neurips-registration-opens-soon-67111581de99") == (
        "https://medium.com/@NeurIPSConf/neurips-registration-opens-soon-67111581de99"
    )
    assert resolve_link("/neuro-ai/a-comparison-84e864982d46?source=post_page") == (
        "https://medium.com/neuro-ai/a-comparison-84e864982d46"
    )
    assert resolve_link("//cdn.example.com/x.png") == "https://cdn.example.com/x.png"


def test_resolve_keeps_path_shape_and_rejects_junk() -> None:
    assert resolve_link("https://distill.pub/2020/circuits/equivariance/") == (
        "https://distill.pub/2020/circuits/equivariance/"
    )
    assert resolve_link("<https://Example.com/a?utm_source=x#top>") == ("https://example.com/a#top")
    assert resolve_link("img/abc.png") is None
    assert resolve_link("https://www . example . org/x") is None
    assert resolve_link("") is None


def test_shorteners_and_paper_hosts() -> None:
    assert is_shortener("https://t.co/e1JWpHF1ey?amp=1")
    assert is_shortener("https://bit.ly/abc")
    assert not is_shortener("https://arxiv.org/abs/2009.08551")
    assert is_paper_url("https://openreview.net/forum?id=abc")
    assert is_paper_url("https://openaccess.thecvf.com/content/CVPR2021/html/x.html")
    assert is_paper_url("https://aclanthology.org/2020.acl-main.1/")
    assert is_paper_url("https://proceedings.neurips.cc/paper/2020/hash/x.html")
    assert is_paper_url("https://export.arxiv.org/abs/2009.05697")
    assert not is_paper_url("https://www.barcominc.com/")
    assert not is_paper_url("not a url")

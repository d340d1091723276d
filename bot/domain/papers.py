"""URL clean-up and paper identity (pure functions, no I/O).

* ``normalize_url`` gives the canonical form used to compare links: lower-case
  scheme and host, no default port, no fragment, no tracking parameters, no
  trailing slash (except the root path).
* ``paper_identity`` maps every arXiv URL variant (abs/pdf/html, versioned,
  ``.pdf``, ``export.arxiv.org``, old-style ids) to ``arxiv:<id>`` and any
  other URL to its normalized form.
* ``resolve_link`` turns an ``href`` found in a digest into an absolute,
  tracking-free URL; relative links are Medium links.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

MEDIUM_BASE = "https://medium.com"
MAX_URL_LENGTH = 4096

TRACKING_PARAMS = frozenset(
    {
        "source",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "amp",
        "usp",
        "si",
        "_hsenc",
        "_hsmi",
        "sk",
    }
)
TRACKING_PREFIXES = ("utm_",)

SHORTENER_HOSTS = frozenset(
    {
        "t.co",
        "bit.ly",
        "buff.ly",
        "goo.gl",
        "ow.ly",
        "tinyurl.com",
        "lnkd.in",
        "dlvr.it",
        "fb.me",
        "ift.tt",
        "trib.al",
        "is.gd",
    }
)
PAPER_HOSTS = (
    "arxiv.org",
    "openreview.net",
    "thecvf.com",
    "aclanthology.org",
    "aclweb.org",
    "papers.nips.cc",
    "proceedings.neurips.cc",
    "proceedings.mlr.press",
    "biorxiv.org",
    "medrxiv.org",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"]")
_HOST_RE = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}|\[[0-9a-f:.]+\]")
_ARXIV_PATH = re.compile(
    r"/(?:abs|pdf|html|format|ps)/"
    r"(\d{4}\.\d{4,5}(?!\d)|[a-z][a-z-]*(?:\.[A-Za-z]{2})?/\d{7}(?!\d))"
)
_ARXIV_ID = re.compile(r"arxiv:(\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Za-z]{2})?/\d{7})")


class _Parts(NamedTuple):
    scheme: str
    netloc: str
    host: str
    path: str
    query: str
    fragment: str


def _split(url: str) -> _Parts | None:
    """Validate an absolute http(s) URL and split it; None when unusable."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH or _BAD_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if not _HOST_RE.fullmatch(host):
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return _Parts(scheme, netloc, host, parts.path, parts.query, parts.fragment)


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    """Drop tracking parameters, keep the others in their original order and encoding."""
    kept = [p for p in query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    return "&".join(kept)


def _join(scheme: str, netloc: str, path: str, query: str, fragment: str = "") -> str:
    url = f"{scheme}://{netloc}{path}"
    if query:
        url += f"?{query}"
    if fragment:
        url += f"#{fragment}"
    return url


def normalize_url(url: str) -> str | None:
    """Canonical form of an absolute http(s) URL, or None when it is unusable."""
    parts = _split(url)
    if parts is None:
        return None
    path = parts.path.rstrip("/") or "/"
    return _join(parts.scheme, parts.netloc, path, _clean_query(parts.query))


def _host_matches(host: str, domains: tuple[str, ...] | frozenset[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def arxiv_id(url: str) -> str | None:
    """The version-less arXiv id of an arXiv URL (``2009.05697``), else None."""
    parts = _split(url)
    if parts is None or not _host_matches(parts.host, ("arxiv.org",)):
        return None
    match = _ARXIV_PATH.match(parts.path)
    return match.group(1) if match else None


def paper_identity(url: str) -> str | None:
    """``arxiv:<id>`` for arXiv links, the normalized URL otherwise, None when unusable."""
    text = url.strip()
    if text.lower().startswith("arxiv:"):
        match = _ARXIV_ID.fullmatch(text[:6].lower() + text[6:])
        return f"arxiv:{match.group(1)}" if match else None
    found = arxiv_id(text)
    if found is not None:
        return f"arxiv:{found}"
    return normalize_url(text)


def resolve_link(href: str) -> str | None:
    """Absolute, tracking-free URL for a link target; relative paths resolve against Medium.

    Unlike ``normalize_url`` the path (trailing slash included) and the fragment are
    kept, so the result is safe to publish.
    """
    href = href.strip()
    if href.startswith("<") and href.endswith(">"):
        href = href[1:-1].strip()
    if href.startswith("//"):
        href = "https:" + href
    elif href.startswith("/"):
        href = MEDIUM_BASE + href
    parts = _split(href)
    if parts is None:
        return None
    path = parts.path or "/"
    return _join(parts.scheme, parts.netloc, path, _clean_query(parts.query), parts.fragment)


def is_shortener(url: str) -> bool:
    """True for link shorteners (t.co, bit.ly, ...) whose target is unknown."""
    parts = _split(url)
    return parts is not None and _host_matches(parts.host, SHORTENER_HOSTS)


def is_paper_url(url: str) -> bool:
    """True for arXiv, OpenReview, CVF, ACL Anthology and proceedings sites."""
    parts = _split(url)
    if parts is None:
        return False
    return _host_matches(parts.host, PAPER_HOSTS) or parts.host.startswith("proceedings.")

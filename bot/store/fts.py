"""Names of the SQLite FTS5 search tables (created by the migrations, not by the models).

``items_short`` (the word index) uses unicode61 over a pre-tokenized copy of headline, title,
summary and link: CJK runs as unigrams then bigrams, other words whole. Every query is answered
from it, one- and two-character ones (剪枝, AI) included. ``items_fts`` uses the trigram
tokenizer over the items table itself, for substring matches inside words.
"""

from __future__ import annotations

FTS_TABLES = ("items_fts", "items_short")


def is_fts_name(name: str) -> bool:
    return any(name == t or name.startswith(f"{t}_") for t in FTS_TABLES)


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic filter: leave the FTS5 virtual tables and their shadow tables, and the SQLite
    change counters (``content_versions``, migration 0015), out of comparisons."""
    return not (
        type_ == "table" and name is not None and (is_fts_name(name) or name == "content_versions")
    )

"""Names of the SQLite FTS5 search tables (created by the migrations, not by the models).

``items_fts`` uses the trigram tokenizer over headline, title, summary and link (substring
matching for queries of three or more characters). ``items_short`` uses unicode61 over a
pre-tokenized copy (CJK unigrams and bigrams, whole Latin words) so one- and two-character
queries such as 剪枝 or AI are found through an index, not a table scan.
"""

from __future__ import annotations

FTS_TABLES = ("items_fts", "items_short")


def is_fts_name(name: str) -> bool:
    return any(name == t or name.startswith(f"{t}_") for t in FTS_TABLES)


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic filter: leave the FTS5 virtual tables and their shadow tables out of comparisons."""
    return not (type_ == "table" and name is not None and is_fts_name(name))

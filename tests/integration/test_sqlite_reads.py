"""Every SQLite connection digestbot opens reads through a memory map and a page cache larger
than SQLite's 2 MiB default (a search over a large archive's word index overflows that)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store import sqlite_conn
from bot.store.db import make_sync_engine
from bot.store.migrate import upgrade

pytestmark = pytest.mark.sqlite_only("SQLite's connection settings")


def test_engine_connections_map_the_file_and_keep_a_larger_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            mmap = conn.execute(text("PRAGMA mmap_size")).scalar()
            cache = conn.execute(text("PRAGMA cache_size")).scalar()
    finally:
        engine.dispose()
    assert 1 << 30 <= mmap <= sqlite_conn.MMAP_BYTES  # the build may cap it below ours
    assert cache == -sqlite_conn.CACHE_KIB  # negative: KiB, not pages
    assert sqlite_conn.CACHE_KIB > 2000  # more than SQLite's default of 2,000 KiB


def test_stdlib_connections_are_set_up_the_same_way(tmp_path: Path) -> None:
    """The fast command line path and the schema check open the file with the stdlib."""
    path = tmp_path / "plain.db"
    upgrade(f"sqlite:///{path}")
    conn = sqlite_conn.connect(path)
    try:
        mmap = conn.execute("PRAGMA mmap_size").fetchone()[0]
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    finally:
        conn.close()
    assert 1 << 30 <= mmap <= sqlite_conn.MMAP_BYTES
    assert cache == -sqlite_conn.CACHE_KIB

"""Where the files that ship with the package live (migrations, default config).

An installed wheel carries them as ``bot/_migrations`` and ``bot/_config``; a source checkout
has them beside the package as ``migrations/`` and ``config/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(installed: str, source: str) -> Path:
    for candidate in (_PACKAGE / installed, _PACKAGE.parent / source):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"digestbot is installed without its {source}/ folder")


def migrations_dir() -> Path:
    return _find("_migrations", "migrations")


def default_config_file() -> Path:
    return _find("_config", "config") / "default.toml"

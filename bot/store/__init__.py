"""Persistence: SQLAlchemy models, engine/session setup, repositories (every select lives here)."""

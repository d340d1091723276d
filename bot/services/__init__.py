"""Use cases. Each owns its transaction boundaries; each returns dataclasses, not ORM objects."""

"""Alembic migrations of the head-end store (package data; run by `sealmeter.store.migrate`)."""

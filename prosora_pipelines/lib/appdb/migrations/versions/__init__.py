"""Alembic revisions of the app database (a package so that wheels ship them)."""

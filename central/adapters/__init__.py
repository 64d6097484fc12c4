"""Adapters: everything that talks to the database (SQLAlchemy, Alembic) and the broker."""

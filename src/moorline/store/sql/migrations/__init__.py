"""Alembic migrations of the metadata schema (applied by ``moorline.store.sql.migrate``)."""

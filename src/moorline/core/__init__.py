"""Shared building blocks of every domain: ids, clock, paging, blob port."""

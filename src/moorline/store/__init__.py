"""Storage adapters: implementations of the domain ports.

``store.sql`` keeps metadata in SQLite or PostgreSQL; ``store.rest`` talks to
a moorline server over HTTP. Domains never import this package; ``bootstrap``
picks an adapter by URI and hands it to the services.
"""

"""The Python SDK behind ``import moorline``: fluent run logging and :class:`Client`.

Everything here is internal; the public names are the ones
``moorline/__init__.py`` exports. The SDK is a shell like the CLI and the
server: it reads settings once (lazily, on first use), asks
:func:`moorline.bootstrap.build_services` for services and calls them, so the
embedded store and a remote server behave the same.
"""

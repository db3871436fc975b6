"""The web UI: server-rendered pages (Jinja2) with a little hand-written JavaScript.

Every page is a URL, and every page is also JSON: add ``?format=json`` or
``.json`` to the path (in the spirit of Datasette). Handlers parse the
request, call tracking and artifact services, and render; charts come from
:mod:`moorline.charts`.
"""

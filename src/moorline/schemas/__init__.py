"""The wire schemas of moorline's own API (``/api/v1``), shared by server and client.

The server's routes (``moorline.server.api``) validate requests and render
responses with these pydantic models, and the REST adapter
(``moorline.store.rest``) builds its requests and parses the answers with
the very same classes, so the two sides cannot drift apart. Each model that
mirrors a domain record converts both ways (``from_domain`` / ``to_domain``);
domain records never see pydantic.

Wire conventions, documented once here and in the OpenAPI description:

- Timestamps are integer milliseconds since the epoch.
- Metric values may be NaN or +/-infinity, which JSON cannot express as
  numbers: they travel as the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"`` (see :data:`moorline.schemas.common.FloatValue`).
- Every error is ``{"error_code": ..., "message": ...}`` with a stable code
  from :class:`moorline.errors.ErrorCode` (see :class:`ErrorBody`).
- Lists come in pages: ``{"items": [...], "next_page_token": ...}``; the
  token is opaque and ``null`` on the last page.
"""

from moorline.schemas.common import ErrorBody, FloatValue

__all__ = ["ErrorBody", "FloatValue"]

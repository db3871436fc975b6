"""moorline: the minimum viable MLOps stack in one ``pip install``.

The public SDK lives here; everything else is internal.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

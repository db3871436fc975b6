"""How the UI shows and serves run artifacts: preview kinds and safe response headers.

Artifacts are user data, possibly hostile. The rules:

- Text is previewed inside the page, escaped by the template, and only the
  first :data:`PREVIEW_BYTES` are read.
- Raster images are shown with ``<img>`` and served with their own type.
- SVG may carry scripts: it is shown only through ``<img>`` (where scripts
  never run) and the raw route serves it as an attachment.
- Everything the raw route serves carries ``nosniff`` and a sandboxing CSP,
  and nothing is ever served as HTML.
"""

from __future__ import annotations

import contextlib
import posixpath
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

PREVIEW_BYTES = 256 * 1024
_SNIFF_BYTES = 8 * 1024

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
SVG_TYPE = "image/svg+xml"
TEXT_EXTENSIONS = frozenset(
    {
        ".txt", ".log", ".json", ".jsonl", ".yaml", ".yml", ".csv", ".tsv", ".py", ".md",
        ".toml", ".ini", ".cfg", ".conf", ".sh", ".xml", ".html", ".htm", ".js", ".ts",
        ".sql", ".r", ".ipynb", ".rst", ".env", ".properties", ".mlmodel",
    }
)  # fmt: skip
TEXT_NAMES = frozenset({"MLmodel", "Dockerfile", "LICENSE", "Makefile", "README", "requirements"})
#: Formats known to be binary: never read for a preview.
BINARY_EXTENSIONS = frozenset(
    {
        ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".onnx", ".h5", ".hdf5", ".keras", ".pb",
        ".parquet", ".arrow", ".feather", ".npy", ".npz", ".zip", ".gz", ".tgz", ".bz2",
        ".xz", ".zst", ".tar", ".bin", ".safetensors", ".ckpt", ".so", ".whl", ".pdf",
    }
)  # fmt: skip

PreviewKind = Literal["text", "image", "svg", "binary"]

RAW_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def _extension(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[1].lower()


def preview_kind(path: str) -> PreviewKind:
    """What kind of preview ``path`` gets, judged by its name.

    >>> preview_kind("plots/roc.PNG"), preview_kind("model/MLmodel"), preview_kind("w.pkl")
    ('image', 'text', 'binary')
    """
    ext = _extension(path)
    if ext in IMAGE_TYPES:
        return "image"
    if ext == ".svg":
        return "svg"
    if ext in BINARY_EXTENSIONS:
        return "binary"
    # Anything else is sniffed: text if it decodes (see read_text_preview).
    return "text"


def is_known_text(path: str) -> bool:
    return _extension(path) in TEXT_EXTENSIONS or posixpath.basename(path) in TEXT_NAMES


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPreview:
    """The start of a text file; ``text`` is None when the bytes are not text."""

    text: str | None
    truncated: bool


def read_text_preview(chunks: Iterator[bytes], *, limit: int = PREVIEW_BYTES) -> TextPreview:
    """Read at most ``limit`` bytes and decode them if they look like text.

    Bytes with a NUL or invalid UTF-8 in the first 8 KB are binary. The
    iterator is closed as soon as enough was read.
    """
    buffer = bytearray()
    truncated = False
    try:
        for chunk in chunks:
            buffer.extend(chunk)
            if len(buffer) > limit:
                truncated = True
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
    data = bytes(buffer[:limit])
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        return TextPreview(text=None, truncated=truncated)
    try:
        # A multi-byte character may be cut at the sniff boundary: ignore only the tail.
        head.decode("utf-8") if len(data) <= _SNIFF_BYTES else head[:-4].decode("utf-8")
    except UnicodeDecodeError:
        return TextPreview(text=None, truncated=truncated)
    return TextPreview(text=data.decode("utf-8", errors="replace"), truncated=truncated)


def raw_headers(path: str, *, size: int | None, download: bool) -> dict[str, str]:
    """Headers for serving artifact ``path`` from the raw route.

    >>> raw_headers("a/evil.svg", size=10, download=False)["Content-Disposition"]
    'attachment; filename="evil.svg"; filename*=UTF-8\\'\\'evil.svg'
    """
    ext = _extension(path)
    inline = not download
    if ext in IMAGE_TYPES:
        media_type = IMAGE_TYPES[ext]
    elif ext == ".svg":
        media_type, inline = SVG_TYPE, False
    elif is_known_text(path):
        media_type = "text/plain; charset=utf-8"
    else:
        media_type, inline = "application/octet-stream", False
    name = posixpath.basename(path) or "artifact"
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Type": media_type,
        "Content-Disposition": (
            f'{disposition}; filename="{fallback}"; '
            f"filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": RAW_CSP,
        "Cache-Control": "private, no-cache",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers

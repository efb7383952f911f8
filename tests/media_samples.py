"""Small media files made in the test (Pillow, a PDF written by hand), and one video.

``tests/media/clip.mp4`` is committed because no encoder ships with the test machine:
one second of 64x48 H.264 (baseline, yuv420p, no audio) in MP4 with the index at the
front, 3.1 KB, made with the ffmpeg 7.0.2 bundled in PyPI's ``imageio-ffmpeg`` 0.6.0::

    python -m venv /tmp/media && /tmp/media/bin/pip install imageio-ffmpeg==0.6.0
    "$(/tmp/media/bin/python -c 'import imageio_ffmpeg as f; print(f.get_ffmpeg_exe())')" \\
      -f lavfi -i testsrc=size=64x48:rate=10:duration=1 -c:v libx264 -profile:v baseline \\
      -pix_fmt yuv420p -movflags +faststart -fflags +bitexact -flags:v +bitexact \\
      -map_metadata -1 -an tests/media/clip.mp4
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

MP4_CLIP = Path(__file__).parent / "media" / "clip.mp4"


def jpeg_bytes(width: int = 640, height: int = 480, colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


def png_bytes(width: int = 64, height: int = 64, *, alpha: bool = False) -> bytes:
    out = io.BytesIO()
    mode, colour = ("RGBA", (200, 0, 0, 120)) if alpha else ("RGB", (200, 0, 0))
    Image.new(mode, (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def pdf_bytes(text: str = "Compte rendu", pages: int = 1) -> bytes:
    """A valid PDF of ``pages`` A4 pages with one line of Helvetica each, by hand."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * index} 0 R" for index in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font_number = 3 + 2 * pages
    for index in range(pages):
        content = f"BT /F1 24 Tf 72 720 Td ({text} {index + 1}) Tj ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * index} 0 R"
            f" /Resources << /Font << /F1 {font_number} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)

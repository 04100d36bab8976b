"""The enrolment QR code as inline SVG, made here (qrcode): the secret never leaves the server for an
image service, and the page needs nothing from the internet."""

import re
from base64 import b32encode

import qrcode
import qrcode.image.svg


def svg(data: str, label: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    text = image.to_string(encoding="unicode")
    # Size comes from CSS; screen readers hear what it is rather than a path.
    return re.sub(r'^<svg width="[^"]*" height="[^"]*"', f'<svg class="qr" role="img" aria-label="{label}"', text, count=1)


def readable_secret(bin_key: bytes) -> str:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    text = b32encode(bin_key).decode().rstrip("=")
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))

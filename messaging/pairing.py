"""Pairing a WhatsApp number: showing the session's QR code to scan.

Pure: the pairing itself (connect, refresh the QR, disconnect), which calls the
bridge and writes the session row, is in messaging.services.sessions.
"""

import re

import segno

# Only image data URLs the browser shows inertly, and nothing absurdly large.
_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
_MAX_DATA_URL_LENGTH = 200_000


def qr_image_data_url(qr_code: str) -> str:
    """An `<img src>` for a stored QR: the bridge's image, or our rendering of its text.

    Empty when there is nothing to show (no code, or text too long for a QR).
    """
    if not qr_code:
        return ""
    if qr_code.startswith("data:"):
        if len(qr_code) <= _MAX_DATA_URL_LENGTH and _IMAGE_DATA_URL.fullmatch(qr_code):
            return qr_code
        return ""
    try:
        return segno.make_qr(qr_code, error="m").png_data_uri(scale=6, border=4)
    except segno.DataOverflowError:
        return ""

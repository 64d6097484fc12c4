"""Webhook HTTP: sign a JSON body with HMAC-SHA256 and POST it (stdlib ``urllib``, a timeout).

The receiver verifies ``X-Sfsync-Signature: sha256=<hex>`` = HMAC-SHA256(secret,
``<X-Sfsync-Timestamp>.<body>``) (:func:`verify`). Any 2xx is delivered; anything else, a
timeout or a connection error is a failed attempt the worker retries.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from dataclasses import dataclass

__all__ = ["SendResult", "sign", "verify", "post_json", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "DELIVERY_HEADER"]

SIGNATURE_HEADER = "X-Sfsync-Signature"
TIMESTAMP_HEADER = "X-Sfsync-Timestamp"
DELIVERY_HEADER = "X-Sfsync-Delivery"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def post_json(url: str, body: bytes, secret: str, timestamp: str, delivery_id: int, timeout: float) -> SendResult:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: str(delivery_id), "User-Agent": "sfsync-webhook/1",
    })
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # the admin configured the URL
            code = int(resp.status)
    except urllib.error.HTTPError as exc:
        return SendResult(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return SendResult(False, None, f"{type(exc).__name__}: {reason}"[:500])
    return SendResult(200 <= code < 300, code, None if 200 <= code < 300 else f"HTTP {code}")

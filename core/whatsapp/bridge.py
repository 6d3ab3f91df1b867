"""HTTP client for the WhatsApp bridge's (zapw) REST API.

Every failure — network, timeout, non-2xx answer, unexpected body — is raised as
one `BridgeError` with a message fit for logs and admin pages (never the API key).
"""

from typing import Any

import httpx
from django.conf import settings

from core.http import shared_http_client


class BridgeError(Exception):
    """The bridge could not do what was asked."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class BridgeClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    @classmethod
    def from_settings(cls) -> "BridgeClient":
        return cls(
            settings.WHATSAPP_BRIDGE_URL,
            settings.WHATSAPP_BRIDGE_API_KEY,
            settings.WHATSAPP_BRIDGE_TIMEOUT,
        )

    def __repr__(self) -> str:
        return f"BridgeClient({self.base_url!r})"

    def _request(self, method: str, path: str, json: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["X-API-Key"] = self._api_key
        try:
            response = shared_http_client().request(
                method, f"{self.base_url}{path}", json=json, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise BridgeError(
                f"The WhatsApp bridge did not answer within {self.timeout:g}s."
            ) from exc
        except httpx.HTTPError as exc:
            raise BridgeError(f"Cannot reach the WhatsApp bridge: {type(exc).__name__}.") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            detail = ""
            if isinstance(body, dict):
                detail = str(body.get("message") or body.get("error") or "")[:200]
            raise BridgeError(
                f"The WhatsApp bridge answered {response.status_code}"
                + (f": {detail}" if detail else "."),
                status_code=response.status_code,
            )
        if response.status_code == 204:  # e.g. DELETE /sessions/{id}: done, no body
            return {}
        if not isinstance(body, dict):
            raise BridgeError("The WhatsApp bridge sent an answer that is not JSON.")
        return body.get("data", body)

    def send_text(self, *, session_id: str, to: str, text: str) -> dict:
        return self._request(
            "POST", f"/sessions/{session_id}/messages", {"type": "text", "to": to, "text": text}
        )

    def create_session(self, *, session_id: str, webhook_url: str | None = None) -> dict:
        payload: dict[str, Any] = {"sessionId": session_id, "id": session_id}
        if webhook_url:
            payload["webhookUrl"] = webhook_url
        return self._request("POST", "/sessions", payload)

    def get_session(self, session_id: str) -> dict:
        return self._request("GET", f"/sessions/{session_id}")

    def delete_session(self, session_id: str) -> dict:
        return self._request("DELETE", f"/sessions/{session_id}")

"""Keep secrets that travel in URLs out of logs.

The bridge cannot sign its requests, so the webhook's credential is part of its path
(/api/v1/webhooks/whatsapp/<token>/). Django logs request paths (runserver's access
lines, "Bad Request: /path" warnings) and so does gunicorn's access log: both pass
through `redact_url_secrets`.
"""

import logging
import re

_WEBHOOK_TOKEN_IN_PATH = re.compile(r"(/webhooks/[\w-]+/)[^/\s?#\"']+")


def redact_url_secrets(text: str) -> str:
    return _WEBHOOK_TOKEN_IN_PATH.sub(r"\1[redacted]", text)


class RedactUrlSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True

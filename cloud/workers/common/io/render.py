"""Every document a worker writes, rendered one way: compact JSON, secrets redacted."""

from __future__ import annotations

import json

from pydantic import BaseModel

from common.io.redaction import redact


def render(document: BaseModel) -> str:
    """The document as one line of JSON (no newline), with every secret scrubbed."""
    data = document.model_dump(mode="json", by_alias=True)
    return json.dumps(redact(data), ensure_ascii=False, separators=(",", ":"))

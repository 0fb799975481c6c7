"""Settings helpers shared by both services."""

from __future__ import annotations

import json
from typing import Any


def split_csv(value: Any) -> Any:
    """Accept ``a,b`` (the natural form of an environment variable, edited by hand) as well as a JSON list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value

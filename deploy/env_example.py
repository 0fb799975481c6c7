"""Write ``.env.example`` from the settings models, so it lists every setting there is.

    python deploy/env_example.py > .env.example

``tests/unit/deploy/test_deploy_files.py`` regenerates it and fails when the file is stale, and
uses ``env_names`` to check every variable the compose file and the Kubernetes manifests set.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.llm.settings import BUILTIN_PROFILES  # noqa: E402
from rag.settings import RagSettings  # noqa: E402
from search_proxy.settings import Settings as ProxySettings  # noqa: E402

ANY_KEY = "<NAME>"  # a dict of groups: any key, e.g. RAG_LLM__OVERRIDES__<NAME>__MODEL
EXTRA = {
    "RAG_CONFIG_FILE": "TOML file read below the environment (default askdocs.toml in the working directory)",
    "SEARCH_PROXY_CONFIG_FILE": "TOML file for the search proxy (no secrets allowed in it)",
}
THIRD_PARTY = {
    "HF_HOME": "Hugging Face cache (BGE-M3 and other models are downloaded here)",
    "HF_HUB_OFFLINE": "1 = never contact the model hub (models must already be cached)",
}


@dataclass(frozen=True)
class Entry:
    name: str
    default: str
    description: str
    secret: bool


def _group(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """``("model", M)`` for a nested group, ``("dict", M)`` for ``dict[str, M]``, else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        groups = [g for arg in typing.get_args(annotation) if (g := _group(arg))]
        return groups[0] if groups else None
    if origin is typing.Annotated:
        return _group(typing.get_args(annotation)[0])
    if origin is dict:
        value = typing.get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return "dict", value
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return None


# Defaults that depend on the machine; shown as text instead of the value computed here.
MACHINE_DEFAULTS = {"RAG_DATA_DIR": "default $XDG_DATA_HOME/askdocs or ~/.local/share/askdocs"}


def _render(field: FieldInfo) -> str:
    if field.is_required():
        return ""
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        try:
            return str(value.relative_to(ROOT))
        except ValueError:
            return str(value)
    if isinstance(value, list | tuple):
        if not value:
            return ""
        if any(m is NoDecode or isinstance(m, NoDecode) for m in field.metadata):
            return ",".join(str(v) for v in value)
        return json.dumps(list(value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def entries(model: type[BaseModel], prefix: str) -> Iterator[Entry | str]:
    """Leaf settings as entries; a group's first docstring line as a header string before it."""
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        group = _group(field.annotation)
        if group is None:
            description = MACHINE_DEFAULTS.get(env) or (field.description or "").replace("\n", " ")
            if env in MACHINE_DEFAULTS:
                yield Entry(env, "", description, False)
                continue
            yield Entry(env, _render(field), description, _is_secret(field.annotation))
            continue
        kind, sub = group
        sub_prefix = f"{env}__" if kind == "model" else f"{env}__{ANY_KEY}__"
        doc = (sub.__doc__ or "").strip().splitlines()[0] if sub.__doc__ else ""
        doc = re.sub(r"^``[A-Z_*]+``:\s*", "", doc)  # docstrings that open with their own prefix
        yield f"{sub_prefix}*" + (f": {doc}" if doc else "")
        yield from entries(sub, sub_prefix)


def env_names() -> set[str]:
    """Every variable name the settings read (``<NAME>`` stands for any dict key)."""
    names = {e.name for e in entries(RagSettings, "RAG_") if isinstance(e, Entry)}
    names |= {e.name for e in entries(ProxySettings, "SEARCH_PROXY_") if isinstance(e, Entry)}
    names |= set(EXTRA) | set(THIRD_PARTY) | provider_key_names()
    return names


def provider_key_names() -> set[str]:
    return {p.api_key_env for p in BUILTIN_PROFILES.values() if p.api_key_env}


def _section(title: str, items: Iterator[Entry | str]) -> list[str]:
    lines = ["", f"# {'=' * 100}", f"# {title}", f"# {'=' * 100}"]
    for item in items:
        if isinstance(item, str):
            lines += ["", f"# -- {item}"]
            continue
        note = item.description
        if item.secret:
            note = f"{note} (secret: environment only)".strip()
        if note:
            lines.append(f"# {note}")
        lines.append(f"# {item.name}={item.default}")
    return lines


def generate() -> str:
    lines = [
        "# Every setting of askdocs, generated from the settings models by deploy/env_example.py.",
        "# Copy to .env and uncomment what you change; the values shown are the defaults.",
        "# Nested settings use '__'; lists take a comma-separated value or JSON.",
    ]
    lines += _section("rag: the answering service, the CLI and ingestion (prefix RAG_)", entries(RagSettings, "RAG_"))
    lines += _section(
        "search proxy: web search at the network edge (prefix SEARCH_PROXY_)", entries(ProxySettings, "SEARCH_PROXY_")
    )
    extra = [Entry(name, "", text, False) for name, text in EXTRA.items()]
    keys = [
        Entry(name, "", "API key of a hosted model profile, read on each request", True)
        for name in sorted(provider_key_names())
    ]
    third = [Entry(name, "", text, False) for name, text in THIRD_PARTY.items()]
    lines += _section("config files, model API keys, third-party variables", iter([*extra, *keys, *third]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())

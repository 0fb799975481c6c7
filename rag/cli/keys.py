"""``rag keys``: make API keys and the hash records the service stores instead of them.

The key is printed once, on standard error, and never stored; the record (name,
``hmac-sha256`` hash, knowledge bases, scopes) goes to standard output, ready to append to the key
file (``rag keys create --name team-a --kb handbook >> keys.toml``) or to put in
``RAG_AUTH__KEYS`` (``--format env``). The hash uses ``RAG_AUTH__PEPPER`` when set, so run this
with the same pepper as the service.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import typer

from rag.api.auth import KeyStore, generate_key, hash_key
from rag.errors import AuthConfigError
from rag.settings import KEY_SCOPES, ApiKeyRecord, get_settings

app = typer.Typer(help="Create and inspect API keys.", no_args_is_help=True)

Format = Literal["toml", "json", "env"]


def _pepper() -> str | None:
    pepper = get_settings().auth.pepper
    return pepper.get_secret_value() if pepper else None


def toml_record(record: ApiKeyRecord) -> str:
    """A ``[[keys]]`` table (JSON string and list syntax is valid TOML for these values)."""
    lines = ["[[keys]]"]
    for name, value in record.model_dump(exclude_none=True).items():
        lines.append(f"{name} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


def render(key: str, record: ApiKeyRecord, fmt: Format) -> str:
    """What goes to standard output: the record only, except in ``json`` (key and record)."""
    data: dict[str, Any] = record.model_dump(exclude_none=True)
    if fmt == "json":
        return json.dumps({"key": key, "record": data}, ensure_ascii=False)
    if fmt == "env":
        return f"RAG_AUTH__KEYS='{json.dumps([data], ensure_ascii=False)}'"
    return toml_record(record)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="who the key is for, e.g. team-a")],
    kb: Annotated[list[str] | None, typer.Option("--kb", help="knowledge base it may read (repeat; '*' = all)")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help=f"extra scope: {', '.join(KEY_SCOPES)} (repeat)")
    ] = None,
    rpm: Annotated[int | None, typer.Option("--rpm", help="requests per minute (default from settings)")] = None,
    streams: Annotated[int | None, typer.Option("--streams", help="concurrent answers (default from settings)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="toml (key file), json, or env (RAG_AUTH__KEYS)")] = "toml",
) -> None:
    """Generate a key and print it with its record for the key file."""
    if fmt not in ("toml", "json", "env"):
        raise typer.BadParameter("--format must be toml, json or env")
    unknown = sorted(set(scope or []) - set(KEY_SCOPES))
    if unknown:
        raise typer.BadParameter(f"unknown scope(s) {unknown}; known: {list(KEY_SCOPES)}")
    key = generate_key()
    try:
        record = ApiKeyRecord(
            name=name,
            hash=hash_key(key, _pepper()),
            kbs=list(kb or []),
            scopes=list(scope or []),  # checked above
            requests_per_minute=rpm,
            concurrent_streams=streams,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if fmt != "json":
        typer.echo(f"API key for {record.name} (shown once, stored nowhere; give it to the client):\n{key}", err=True)
    typer.echo(render(key, record, fmt))  # type: ignore[arg-type]  # fmt checked above


@app.command("hash")
def hash_command() -> None:
    """Hash a key read from standard input (for keys made elsewhere)."""
    key = sys.stdin.readline().strip()
    if not key:
        raise typer.BadParameter("no key on standard input")
    typer.echo(hash_key(key, _pepper()))


@app.command("list")
def list_keys() -> None:
    """Configured keys by name, with their knowledge bases and scopes (never hashes)."""
    try:
        records = KeyStore(get_settings().auth).records()
    except AuthConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for record in records:
        kbs = ",".join(record.kbs) or "-"
        scopes = ",".join(record.scopes) or "-"
        typer.echo(f"{record.name}\tkbs={kbs}\tscopes={scopes}")

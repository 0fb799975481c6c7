"""``search-proxy`` command line: run the service, or show which providers it would use."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Web-search proxy for the answering service.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default SEARCH_PROXY_SERVER__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SEARCH_PROXY_SERVER__PORT).")] = None,
) -> None:
    """Run the HTTP service under uvicorn."""
    import uvicorn

    from search_proxy.app import create_app
    from search_proxy.settings import get_settings
    from servicekit.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.server.log_level, json_lines=settings.server.log_json, secrets=settings.secret_values())
    uvicorn.run(
        create_app(settings),
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_config=None,  # uvicorn's records go through our redacting JSON handler
        log_level=settings.server.log_level,
        # One access line per request is ours (route template, status, duration); uvicorn's would
        # add a second one carrying the full query string, i.e. the user's question.
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def providers() -> None:
    """Print the fallback chain as configured (names only, never keys)."""
    from search_proxy.settings import get_settings

    settings = get_settings()
    typer.echo(json.dumps({"order": settings.providers.order, "configured": settings.configured_providers()}))


if __name__ == "__main__":  # pragma: no cover
    app()

"""``askdb serve``: the HTTP API (OpenAI-compatible chat, Dify external knowledge, /v1/ask) under uvicorn."""

from __future__ import annotations

import click

from askdb.cli_common import handle_errors, settings_from


@click.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0: every interface)"
)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="processes; one per core serves the most questions (each loads its own index and model)",
)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, db_url: str | None, workers: int) -> None:
    """Serve the assistant over HTTP; the OpenAPI schema is at /docs and /openapi.json."""
    import os

    import uvicorn

    from askdb.serving.api import create_app

    settings = settings_from(ctx)
    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    if not settings.api_keys and host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(
            "warning: no ASKDB_API_KEYS set, and the API listens beyond this machine", fg="yellow", err=True
        )
    click.echo(
        f"askdb API on http://{host}:{port}  (OpenAI base URL: http://{host}:{port}/v1, model `askdb`; "
        f"Dify external knowledge: http://{host}:{port}, knowledge id `askdb`)",
        err=True,
    )
    if workers == 1:
        uvicorn.run(create_app(settings, warm=True), host=host, port=port, log_level="warning")
        return
    # Python runs one thread of Python code at a time: more cores need more processes. They read
    # their settings from the environment, so --db travels there; conversations live in a file.
    if db_url:
        os.environ["ASKDB_DB_URL"] = db_url
    # uvicorn's supervisor kills a worker whose health-check thread has not answered in 5 s; under a
    # burst that thread waits its turn behind the question threads, and a busy, healthy worker was
    # killed with its connections (seen in bench/bench_api.py at load 8). Hung for a minute is hung.
    uvicorn.run(
        "askdb.serving.api:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        timeout_worker_healthcheck=60,
    )

"""``acg2vec serve``: the REST API, its OpenAPI docs and the search page over the workdir's models and indexes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from acg2vec.commands.state import workspace
from acg2vec.errors import UserError

LOOPBACK = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, api_key: str | None, insecure_no_auth: bool) -> None:
    """Another address than loopback needs an API key, or the explicit choice to serve without one."""
    if is_loopback(host) or api_key or insecure_no_auth:
        return
    raise UserError(
        f"Serving on {host} exposes the API beyond this machine; give --api-key KEY (clients send it in the "
        "X-API-Key header) or --insecure-no-auth."
    )


app = typer.Typer()


@app.command("serve", help="Serve the models and indexes: REST API under /v1, docs at /docs, a search page at /.")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; another than loopback needs --api-key."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    models: Path = typer.Option(None, "--models", help="Folder of the models (default: <workdir>/models)."),
    vectors: str = typer.Option(None, "--vectors", help="Vector store: faiss (embedded, default) or milvus."),
    milvus_uri: str = typer.Option(
        None, "--milvus-uri", help="Milvus server (http://host:19530) or milvus-lite file (vectors.db)."
    ),
    milvus_token: str = typer.Option(
        None, "--milvus-token", envvar="MILVUS_TOKEN", help="Token of a Milvus server that asks for one."
    ),
    api_key: str = typer.Option(
        None, "--api-key", envvar="ACG2VEC_API_KEY", help="Require this key in the X-API-Key header."
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Allow binding a non-loopback address without an API key."
    ),
    batching: bool = typer.Option(
        None, "--batching/--no-batching", help="Micro-batch concurrent model calls (default: on)."
    ),
    max_batch: int = typer.Option(None, "--max-batch", help="Most requests one model call takes (default 16)."),
    max_wait_ms: float = typer.Option(
        None, "--max-wait-ms", help="Longest a request waits for others to join (default 5)."
    ),
    max_upload_mb: float = typer.Option(None, "--max-upload-mb", help="Largest request body, in MB (default 20)."),
    max_k: int = typer.Option(None, "--max-k", help="Most results one search returns (default 100)."),
    build: bool = typer.Option(
        True,
        "--build/--no-build",
        help="Build missing or stale indexes and rebuild damaged ones before serving (without it a damaged "
        "index stops serve with one sentence).",
    ),
) -> None:
    """Serve tags, illust2vec vectors, similar illustrations, acgvoc2vec vectors, work and tag search over HTTP."""
    check_binding(host, api_key, insecure_no_auth)
    if vectors not in (None, "faiss", "milvus"):
        raise UserError(f"unknown vector store {vectors!r}; use faiss or milvus.")
    if vectors == "milvus" and not milvus_uri:
        raise UserError("--vectors milvus needs --milvus-uri (a Milvus server URL or a milvus-lite .db file).")
    if (max_k is not None and max_k < 1) or (max_batch is not None and max_batch < 1):
        raise UserError("--max-k and --max-batch must be at least 1.")
    from acg2vec.serving.threads import prefer_passive_waits

    prefer_passive_waits()  # before anything loads torch: OpenMP reads it once
    from acg2vec.commands.options import apply_overrides
    from acg2vec.serving.app import create_app
    from acg2vec.serving.services import ServeConfig

    ws = workspace()
    config = apply_overrides(
        ServeConfig(workdir=ws.root),
        models_dir=str(models) if models else None,
        vectors=vectors,
        milvus_uri=milvus_uri,
        milvus_token=milvus_token,
        batching=batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_upload_bytes=None if max_upload_mb is None else int(max_upload_mb * 1024 * 1024),
        max_k=max_k,
        api_key=api_key,
        build=build,
    )
    run_until_stopped(create_app(config), host=host, port=port)


def run_until_stopped(app, *, host: str, port: int) -> None:
    """Serve ``app`` until stopped; the indexes are checked, repaired or built and the models loaded in the
    background (/healthz answers, /readyz says what is under way). A load that fails stops the server and is raised
    here: its sentence and a non-zero exit, so a supervisor restarts or alerts."""
    import uvicorn

    state = app.fastapi.state.serving
    # log_config=None: uvicorn logs through acg2vec's handlers (console and the workdir's log file) like the rest
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)
    server = uvicorn.Server(config)
    state.on_fatal = lambda: setattr(server, "should_exit", True)
    state.say = lambda line: typer.echo(line, err=True)
    typer.echo(f"acg2vec serving on http://{host}:{port}/ (API docs at /docs)", err=True)
    server.run()
    if state.fatal is not None:
        if isinstance(state.fatal, UserError):
            raise state.fatal
        raise UserError(f"serve could not load its models and indexes ({state.error}); see the log.", exit_code=1)

"""``torchwarden serve``: parse options, choose the token, start uvicorn."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click

__all__ = ["serve"]

TOKEN_VAR = "TORCHWARDEN_TOKEN"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=int, default=8765, show_default=True, help="Port to bind (0: any free one)."
)
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run index directory [default: $TORCHWARDEN_INDEX, else index/ in the lease directory].",
)
@click.option(
    "--lease-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Lease directory [default: $TORCHWARDEN_LEASE_DIR or /tmp/torchwarden-leases].",
)
def serve(host: str, port: int, index_dir: Path | None, lease_dir: Path | None) -> None:
    """Serve a live web view of this machine: GPUs and leases, runs, each run's timelines.

    \b
      torchwarden serve                      http://127.0.0.1:8765/ (this machine only)
      torchwarden serve --host 0.0.0.0       others may connect, with the printed token
      ssh -L 8765:127.0.0.1:8765 gpu-box     the safer way to look from your laptop

    Read-only. Bound to any address but loopback it requires a token: $TORCHWARDEN_TOKEN,
    else a new one, printed. Prometheus metrics are at /metrics.
    """
    try:
        import uvicorn

        from torchwarden.runtime.index import resolve_index_dir
        from torchwarden.runtime.lease_files import resolve_lease_dir
        from torchwarden.web import ServeConfig, create_app
        from torchwarden.web.access import is_loopback, new_token
    except ModuleNotFoundError as e:
        click.echo(
            f"torchwarden serve: {e.name} is missing: pip install 'torchwarden[serve]'.", err=True
        )
        sys.exit(2)
    loopback = is_loopback(host)
    token = os.environ.get(TOKEN_VAR) or (None if loopback else new_token())
    config = ServeConfig(
        token=token,
        loopback_only=loopback,
        index_dir=resolve_index_dir(index_dir),
        lease_dir=resolve_lease_dir(lease_dir),
    )
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={token}" if token else ""
    click.echo(f"torchwarden serve: http://{shown}:{sock.getsockname()[1]}/{query}", err=True)
    uvicorn_config = uvicorn.Config(
        create_app(config), log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    uvicorn.Server(uvicorn_config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting, so that the address printed is the real one (``--port 0``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        click.echo(
            f"torchwarden serve: cannot bind {host}:{port}: {e.strerror}. Choose another --port.",
            err=True,
        )
        sys.exit(2)
    sock.listen(128)
    return sock

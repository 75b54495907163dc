"""`pgqrs dashboard`: the web dashboard's command.

The command checks what it can before anything listens: the ``dashboard`` extra is
installed, a bind that is not a loopback address has a token, and the database answers
with pgqrs installed. Errors are the CLI's one ``Error:`` line: exit 2 for the first two
(usage), 1 for the database (the root group reports it).
"""

from __future__ import annotations

import importlib
from typing import Protocol

import click

from ._output import CommandError, FiniteFloat
from .admin import Admin
from .config import Config

__all__ = ["dashboard", "DASHBOARD_MODULES"]

#: What the ``dashboard`` extra brings, by module name.
DASHBOARD_MODULES = ("starlette", "uvicorn", "jinja2", "python_multipart")


class _HasConfig(Protocol):
    """The root group's context object (cli.State): where to connect."""

    @property
    def config(self) -> Config: ...


def _missing_modules() -> list[str]:
    missing = []
    for module in DASHBOARD_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return missing


@click.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any address that is not a loopback one needs --auth-token.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--auth-token", envvar="PGQRS_DASHBOARD_TOKEN", metavar="TOKEN",
              help="Token every request must carry (Authorization: Bearer, or the login page's cookie) "
                   "[env: PGQRS_DASHBOARD_TOKEN; the variable keeps it out of the process list].")
@click.option("--allow-actions", is_flag=True,
              help="Offer pause / resume, replay and purge of dead letters, release, stop worker (each confirmed, "
                   "as the database role of the DSN).")
@click.option("--sample-interval", type=FiniteFloat(min_open=True), default=2.0, show_default=True,
              metavar="SECONDS", help="Seconds between two readings of the queue metrics (pages and charts).")
@click.pass_obj
def dashboard(
    obj: _HasConfig, host: str, port: int, auth_token: str | None, allow_actions: bool, sample_interval: float
) -> None:
    """Serve the web dashboard: queues, messages, dead letters, workers, live.

    Pages at http://HOST:PORT/, JSON at /api/health, /api/queues, /api/queues/NAME,
    /api/queues/NAME/archive/ID, /api/workers and /api/throughput. Runs until SIGINT / SIGTERM.
    """
    missing = _missing_modules()
    if missing:
        raise CommandError(
            f"the dashboard needs the `dashboard` extra (missing: {', '.join(missing)}): "
            "pip install 'pgqrs[dashboard]'",
            exit_code=2,
        )
    from .dashboard import DashboardSettings, serve
    from .dashboard.security import is_loopback_host

    token = auth_token or None
    if token is None and not is_loopback_host(host):
        raise CommandError(
            f"--auth-token (or PGQRS_DASHBOARD_TOKEN) is required to listen on {host}, which is not a loopback address",
            exit_code=2,
        )
    config = obj.config
    with Admin(config) as admin:  # fails here, in one line, when the database or pgqrs is not there
        version = admin.version()
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"pgqrs dashboard on http://{shown}:{port}/ (pgqrs {version}, schema {config.schema}; "
        f"actions {'on' if allow_actions else 'off'}; {'token required' if token else 'no token: loopback only'})",
        err=True,
    )
    serve(config, DashboardSettings(host=host, port=port, auth_token=token, allow_actions=allow_actions,
                                    sample_interval=sample_interval))

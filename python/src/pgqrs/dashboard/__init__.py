"""The pgqrs web dashboard (``pgqrs dashboard``): queues, messages, dead letters and workers in a
browser, live, with a small JSON API beside the pages.

Needs the ``dashboard`` extra (``pip install 'pgqrs[dashboard]'``: Starlette, uvicorn, Jinja2,
python-multipart). ``create_app(config, settings)`` is the ASGI application, for any ASGI server;
``serve(config, settings)`` runs it with uvicorn, as the CLI does.
"""

from __future__ import annotations

from ..config import Config
from .app import DashboardSettings, create_app
from .sampler import Reading, Sampler

__all__ = ["DashboardSettings", "Reading", "Sampler", "create_app", "serve"]


def serve(config: Config, settings: DashboardSettings) -> None:
    """Run the dashboard with uvicorn until SIGINT / SIGTERM.

    Logging is left to the caller (the CLI's --log-level and --log-dest): uvicorn's own access
    log is off, the dashboard logs method, path and status of each request on the logger
    ``pgqrs.dashboard.access`` at INFO.
    """
    import uvicorn

    uvicorn.run(
        create_app(config, settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )

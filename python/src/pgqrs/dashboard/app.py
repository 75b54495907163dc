"""The dashboard's ASGI application: pages, partials for live updates, JSON endpoints, actions.

Everything it shows comes through :class:`~pgqrs.admin.AsyncAdmin` (and
:class:`~pgqrs.consumer.AsyncConsumer` for a release), that is through the SQL
functions and views those call, as the database role of the configured DSN. The
overview and the charts read the sampler's latest reading (one ``metrics_all()``
per interval, whoever looks); a queue's page reads that queue afresh.

Pages are rendered on the server (Jinja2, autoescaped: a payload is text, never
markup); htmx swaps the live parts, uPlot draws the charts; both are files of the
package (static/vendor/NOTICE), so nothing is fetched from elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import psycopg
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .._output import format_age
from ..admin import AsyncAdmin
from ..config import Config
from ..consumer import AsyncConsumer
from ..errors import ConnectionFailed, PgqrsError, QueueNotFound, WorkerNotFound
from ..types import ArchivedMessage, Message, WorkerHealth
from .sampler import Sampler
from .security import SECURITY_HEADERS, SESSION_COOKIE, Guard

__all__ = ["DashboardSettings", "create_app"]

log = logging.getLogger("pgqrs.dashboard")
access_log = logging.getLogger("pgqrs.dashboard.access")

HERE = Path(__file__).resolve().parent
T = TypeVar("T")

#: How many rows a section of a queue's page shows.
ROWS = 100
#: How much of a payload a table cell shows (the whole one is a click away).
PAYLOAD_PREVIEW = 200


@dataclasses.dataclass(frozen=True)
class DashboardSettings:
    """How the dashboard runs: where it listens, who may look, whether it may act."""

    host: str = "127.0.0.1"
    port: int = 8080
    auth_token: str | None = None
    allow_actions: bool = False
    sample_interval: float = 2.0  # seconds between two readings of the metrics
    history_seconds: float = 900.0  # how far back the charts go


class Dashboard:
    """What the request handlers share: the API, the sampler, the checks, the templates."""

    def __init__(self, config: Config, settings: DashboardSettings) -> None:
        self.config = config
        self.settings = settings
        self.admin = AsyncAdmin(config)
        self.sampler = Sampler(self.admin, settings.sample_interval, settings.history_seconds)
        self.guard = Guard(settings.auth_token)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["age"] = _age
        self.env.filters["ts"] = _timestamp
        self.env.globals["version"] = __version__

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("public", False)  # the login page shows no navigation and no version
        page = self.env.get_template(template).render(
            csrf=self.guard.csrf_token,
            allow_actions=self.settings.allow_actions,
            schema=self.config.schema,
            token_required=self.guard.auth_token is not None,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(page, status_code=status_code)


# -- formatting -----------------------------------------------------------------


def _age(value: dt.timedelta | None) -> str:
    return "-" if value is None else format_age(value.total_seconds())


def _timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _payload_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def _state(msg: Message, now: dt.datetime | None) -> str:
    """ready, in_flight or delayed, as the messages view says, at the database time ``now``."""
    if now is None or msg.vt <= now:
        return "ready"
    return "in_flight" if msg.dequeued_at is not None else "delayed"


def _message_row(msg: Message, now: dt.datetime | None) -> dict[str, Any]:
    text = _payload_text(msg.payload)
    row = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}
    row.update(
        state=_state(msg, now),
        payload_text=text,
        payload_preview=text if len(text) <= PAYLOAD_PREVIEW else text[:PAYLOAD_PREVIEW] + "…",
    )
    return row


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_jsonable(data), status_code=status_code)


# -- errors as people read them --------------------------------------------------


def explain(exc: PgqrsError) -> tuple[int, str]:
    """The HTTP status and the sentence a page shows for an error of the API."""
    cause = exc.__cause__
    sqlstate = cause.sqlstate if isinstance(cause, psycopg.Error) else exc.sqlstate
    if sqlstate == "42501":
        return 403, (
            f"{exc}: the database role this dashboard connects as does not have the right to do this "
            "(the admin group's rights are needed)"
        )
    if isinstance(exc, (QueueNotFound, WorkerNotFound)):
        return 404, str(exc)
    if isinstance(exc, ConnectionFailed):
        # libpq's reason names the host and the user: it goes to the log, not to the page.
        log.warning("%s", exc)
        return 503, "the database cannot be reached (the dashboard's log says why)"
    return 409, str(exc)


async def _attempt(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """A read that may fail on its own (a section of a page): (result, None) or (None, why)."""
    try:
        return await call, None
    except PgqrsError as exc:
        return None, explain(exc)[1]


def _dash(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


# -- pages ----------------------------------------------------------------------


def _overview_context(dash: Dashboard) -> dict[str, Any]:
    reading = dash.sampler.latest
    return {
        "rows": list(reading.rows) if reading else [],
        "measured_at": reading.measured_at if reading else None,
        "sample_error": dash.sampler.error,
        "interval": dash.settings.sample_interval,
    }


async def overview(request: Request) -> Response:
    dash = _dash(request)
    return dash.render(request, "overview.html", **_overview_context(dash))


async def overview_rows(request: Request) -> Response:
    dash = _dash(request)
    return dash.render(request, "_queue_rows.html", **_overview_context(dash))


async def _queue_context(dash: Dashboard, name: str) -> dict[str, Any]:
    """Raises QueueNotFound (and what metrics() raises): the page has nothing to show without it."""
    metrics = await dash.admin.metrics(name)
    now = metrics.measured_at
    settings, settings_error = await _attempt(dash.admin.get_queue(name))
    messages, messages_error = await _attempt(dash.admin.list_messages(name, ROWS))
    recent, recent_error = await _attempt(dash.admin.list_messages(name, ROWS, newest_first=True))
    dead, dead_error = await _attempt(dash.admin.dead_letters(name, ROWS))
    rows = [_message_row(m, now) for m in messages or []]
    return {
        "name": name,
        "metrics": metrics,
        "settings": settings,
        "settings_error": settings_error,
        "messages": rows,
        "in_flight": [r for r in rows if r["state"] == "in_flight"],
        "messages_error": messages_error,
        "recent": [_message_row(m, now) for m in recent or []],
        "recent_error": recent_error,
        "dead_letters": [_message_row(m, now) for m in dead or []],
        "dead_error": dead_error,
        "interval": dash.settings.sample_interval,
    }


async def queue_page(request: Request) -> Response:
    dash = _dash(request)
    name = request.path_params["name"]
    try:
        context = await _queue_context(dash, name)
    except PgqrsError as exc:
        status, message = explain(exc)
        return dash.render(request, "error.html", status_code=status, title="Queue", message=message)
    archive_id = request.query_params.get("archive_id", "").strip()
    found: dict[str, Any] | None = None
    archive_error: str | None = None
    if archive_id:
        if not archive_id.isdigit() or not 0 < int(archive_id) < 2**63:
            archive_error = "a message id is a positive whole number"
        else:
            row, archive_error = await _attempt(dash.admin.get_archived(name, int(archive_id)))
            if row is not None:
                found = _message_row(row, context["metrics"].measured_at)
            elif archive_error is None:
                archive_error = f"no message {int(archive_id)} in the archive of queue {name}"
    notice = _notice(request)
    return dash.render(request, "queue.html", archive_id=archive_id, found=found, archive_error=archive_error,
                       notice=notice, **context)


async def queue_metrics_partial(request: Request) -> Response:
    dash = _dash(request)
    name = request.path_params["name"]
    metrics, error = await _attempt(dash.admin.metrics(name))
    return dash.render(request, "_queue_metrics.html", name=name, metrics=metrics, metrics_error=error,
                       interval=dash.settings.sample_interval)


async def workers_page(request: Request) -> Response:
    dash = _dash(request)
    workers, error = await _attempt(dash.admin.list_workers())
    return dash.render(request, "workers.html", workers=workers or [], workers_error=error, notice=_notice(request),
                       interval=dash.settings.sample_interval)


async def workers_rows(request: Request) -> Response:
    dash = _dash(request)
    workers, error = await _attempt(dash.admin.list_workers())
    return dash.render(request, "_worker_rows.html", workers=workers or [], workers_error=error,
                       interval=dash.settings.sample_interval)


async def login_page(request: Request) -> Response:
    dash = _dash(request)
    if dash.guard.auth_token is None:
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return dash.render(request, "login.html", error=None, public=True)
    form = await request.form()
    token = form.get("token")
    if isinstance(token, str) and dash.guard.token_matches(token):
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, dash.guard.session_value, httponly=True, samesite="strict", path="/")
        return response
    return dash.render(request, "login.html", status_code=401, error="that is not the dashboard's token", public=True)


# -- JSON endpoints ------------------------------------------------------------


async def api_health(request: Request) -> Response:
    dash = _dash(request)
    reading = dash.sampler.latest
    ok = dash.sampler.error is None and reading is not None
    return _json(
        {
            "ok": ok,
            "version": __version__,
            "schema": dash.config.schema,
            "queues": len(reading.rows) if reading else None,
            "measured_at": reading.measured_at if reading else None,
            "error": dash.sampler.error,
        },
        status_code=200 if ok else 503,
    )


async def api_queues(request: Request) -> Response:
    dash = _dash(request)
    reading = dash.sampler.latest
    if reading is None:
        return _json({"error": dash.sampler.error or "no reading yet"}, status_code=503)
    return _json({"measured_at": reading.measured_at, "queues": list(reading.rows)})


async def api_queue(request: Request) -> Response:
    dash = _dash(request)
    name = request.path_params["name"]
    try:
        context = await _queue_context(dash, name)
    except PgqrsError as exc:
        status, message = explain(exc)
        return _json({"error": message}, status_code=status)
    errors = {key: context[f"{key}_error"] for key in ("settings", "messages", "recent", "dead")
              if context[f"{key}_error"]}
    strip = ("payload_text", "payload_preview")
    return _json(
        {
            "queue": name,
            "metrics": context["metrics"],
            "settings": context["settings"],
            "messages": [{k: v for k, v in r.items() if k not in strip} for r in context["messages"]],
            "recent": [{k: v for k, v in r.items() if k not in strip} for r in context["recent"]],
            "dead_letters": [{k: v for k, v in r.items() if k not in strip} for r in context["dead_letters"]],
            "errors": {("dead_letters" if k == "dead" else k): v for k, v in errors.items()},
        }
    )


async def api_archived(request: Request) -> Response:
    dash = _dash(request)
    name = request.path_params["name"]
    msg_id: int = request.path_params["msg_id"]
    row: ArchivedMessage | None
    try:
        row = await dash.admin.get_archived(name, msg_id)
    except PgqrsError as exc:
        status, message = explain(exc)
        return _json({"error": message}, status_code=status)
    if row is None:
        return _json({"error": f"no message {msg_id} in the archive of queue {name}"}, status_code=404)
    return _json(row)


async def api_workers(request: Request) -> Response:
    dash = _dash(request)
    try:
        workers: list[WorkerHealth] = await dash.admin.list_workers()
    except PgqrsError as exc:
        status, message = explain(exc)
        return _json({"error": message}, status_code=status)
    return _json({"workers": workers})


async def api_throughput(request: Request) -> Response:
    dash = _dash(request)
    queue = request.query_params.get("queue") or None
    return _json(dash.sampler.history(queue))


# -- actions --------------------------------------------------------------------

#: What a page says after an action went through (the redirect names the key, never the text).
NOTICES = {
    "paused": "Paused: dequeues deliver nothing until the queue is resumed.",
    "resumed": "Resumed: deliveries go on.",
    "replayed": "Replayed {n} dead letter(s) into the queue.",
    "purged": "Deleted {n} dead letter(s).",
    "released": "Released the message: it is visible again.",
    "not-released": "The message is not leased any more: nothing to release.",
    "stopped": "Stopped the worker; {n} message(s) it held are visible again.",
}


def _notice(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    text = NOTICES.get(key)
    if text is None:
        return None
    count = request.query_params.get("n", "0")
    return text.format(n=int(count) if count.isdigit() and len(count) < 19 else 0)


Action = Callable[[Dashboard, Request, FormData], Awaitable[tuple[str, int]]]


def _action(run: Action, back: Callable[[Request], str]) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: refused unless --allow-actions and the form's CSRF token;
    done by the dashboard's database role; then back to the page (POST, redirect, GET)."""

    async def endpoint(request: Request) -> Response:
        dash = _dash(request)
        title = "Not done"
        if not dash.settings.allow_actions:
            return dash.render(request, "error.html", status_code=403, title=title, back=back(request),
                               message="Actions are off: start the dashboard with --allow-actions to allow them.")
        form = await request.form()
        csrf = form.get("csrf")
        if not dash.guard.csrf_ok(csrf if isinstance(csrf, str) else None):
            return dash.render(request, "error.html", status_code=403, title=title, back=back(request),
                               message="The form's CSRF token is missing or out of date: reload the page and try again.")
        try:
            key, count = await run(dash, request, form)
        except PgqrsError as exc:
            status, message = explain(exc)
            log.warning("%s %s refused: %s", request.method, request.url.path, message)
            return dash.render(request, "error.html", status_code=status, title=title, back=back(request),
                               message=message)
        log.info("%s %s done: %s %d", request.method, request.url.path, key, count)
        dash.sampler.poke()
        return RedirectResponse(f"{back(request)}?done={key}&n={count}", status_code=303)

    return endpoint


def _queue_back(request: Request) -> str:
    return f"/queues/{request.path_params['name']}"


def _workers_back(request: Request) -> str:
    return "/workers"


def _form_ids(form: FormData) -> list[int] | None:
    ids = [int(v) for v in form.getlist("id") if isinstance(v, str) and v.isdigit() and 0 < int(v) < 2**63]
    return ids or None


async def _pause(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    await dash.admin.pause_queue(request.path_params["name"])
    return "paused", 0


async def _resume(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    await dash.admin.resume_queue(request.path_params["name"])
    return "resumed", 0


async def _replay(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    replayed = await dash.admin.replay_dead_letters(request.path_params["name"], _form_ids(form))
    return "replayed", len(replayed)


async def _purge_dead(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    """Deletes the dead letters the page listed (the ids in the form, or the first ROWS), in one call."""
    name = request.path_params["name"]
    wanted = _form_ids(form)
    dead = await dash.admin.dead_letters(name, ROWS)
    ids = [m.id for m in dead if wanted is None or m.id in wanted]
    return "purged", len(await dash.admin.purge_dead_letters(name, ids)) if ids else 0


async def _release(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    consumer = AsyncConsumer(dash.admin.pool, request.path_params["name"], dash.config)
    released = await consumer.release(request.path_params["msg_id"])
    return ("released" if released else "not-released"), int(released)


async def _stop_worker(dash: Dashboard, request: Request, form: FormData) -> tuple[str, int]:
    released = await dash.admin.stop_worker(request.path_params["worker_id"])
    return "stopped", released


# -- the application --------------------------------------------------------------


class _Gate(BaseHTTPMiddleware):
    """Host check, token check and same-origin POSTs before any handler; security headers and one
    access-log line (method, path, status: never a query string, a header or a cookie) after."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.monotonic()
        response = await self._check(request, call_next)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if not request.url.path.startswith("/static/"):
            response.headers["cache-control"] = "no-store"
        access_log.info("%s %s %d %.0fms", request.method, request.url.path, response.status_code,
                        (time.monotonic() - started) * 1000)
        return response

    async def _check(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        dash = _dash(request)
        guard = dash.guard
        host = request.headers.get("host")
        if not guard.host_allowed(host):
            return PlainTextResponse(
                "This dashboard answers to localhost only; start it with --auth-token to serve other names.\n",
                status_code=400,
            )
        path = request.url.path
        public = path.startswith("/static/") or path == "/login"
        if not public and not guard.authorized(request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)):
            if path.startswith("/api/"):
                return JSONResponse({"error": "the dashboard's token is required (Authorization: Bearer TOKEN)"},
                                    status_code=401, headers={"www-authenticate": "Bearer"})
            return dash.render(request, "login.html", status_code=401, error=None, public=True)
        if request.method not in ("GET", "HEAD") and not guard.same_origin(request.headers.get("origin"), host):
            return PlainTextResponse("Cross-origin request refused.\n", status_code=403)
        return await call_next(request)


def create_app(config: Config, settings: DashboardSettings | None = None) -> Starlette:
    """The ASGI application. Connects nothing until it starts (its lifespan opens an AsyncAdmin,
    takes a first reading and starts the sampler; shutting down stops both)."""
    dash = Dashboard(config, settings or DashboardSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dash.admin.open()
        await dash.sampler.sample()
        task = asyncio.create_task(dash.sampler.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await dash.admin.close()

    routes = [
        Route("/", overview),
        Route("/partials/queues", overview_rows),
        Route("/queues/{name}", queue_page),
        Route("/partials/queues/{name}/metrics", queue_metrics_partial),
        Route("/workers", workers_page),
        Route("/partials/workers", workers_rows),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/api/health", api_health),
        Route("/api/queues", api_queues),
        Route("/api/queues/{name}", api_queue),
        Route("/api/queues/{name}/archive/{msg_id:int}", api_archived),
        Route("/api/workers", api_workers),
        Route("/api/throughput", api_throughput),
        Route("/queues/{name}/pause", _action(_pause, _queue_back), methods=["POST"]),
        Route("/queues/{name}/resume", _action(_resume, _queue_back), methods=["POST"]),
        Route("/queues/{name}/dead-letters/replay", _action(_replay, _queue_back), methods=["POST"]),
        Route("/queues/{name}/dead-letters/purge", _action(_purge_dead, _queue_back), methods=["POST"]),
        Route("/queues/{name}/messages/{msg_id:int}/release", _action(_release, _queue_back), methods=["POST"]),
        Route("/workers/{worker_id:int}/stop", _action(_stop_worker, _workers_back), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Gate)], lifespan=lifespan)
    app.state.dashboard = dash
    return app


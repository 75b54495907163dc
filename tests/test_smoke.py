import psycopg


def test_extension_is_installed(dsn):
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT pgqrs.version()").fetchone()[0]


def test_empty_database_has_no_pgqrs(empty_dsn):
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgqrs'").fetchone()[0] == 0

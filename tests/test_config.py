"""Config: flags > environment > YAML file > defaults, and every error names its source."""

from __future__ import annotations

import pytest

from pgqrs import Config, ConfigError

DEFAULTS = dict(schema="pgqrs", max_connections=10, connection_timeout_seconds=30.0,
                default_lock_time_seconds=30, default_max_batch_size=100)


def test_defaults_and_simple_constructors():
    cfg = Config.from_dsn("dbname=x")
    assert cfg == Config(dsn="dbname=x", **DEFAULTS)
    assert Config.from_dsn_with_schema("dbname=x", "tenant_1").schema == "tenant_1"


def test_from_env():
    env = {"PGQRS_DSN": "dbname=e", "PGQRS_SCHEMA": "s_env", "PGQRS_MAX_CONNECTIONS": "3",
           "PGQRS_CONNECTION_TIMEOUT": "2.5", "PGQRS_DEFAULT_LOCK_TIME": "9", "PGQRS_DEFAULT_BATCH_SIZE": "7"}
    assert Config.from_env(env) == Config("dbname=e", "s_env", 3, 2.5, 9, 7)
    with pytest.raises(ConfigError, match="no database DSN"):
        Config.from_env({})


def test_from_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dsn: dbname=f\nschema: s_file\nmax_connections: 4\nconnection_timeout_seconds: 5\n")
    assert Config.from_file(path) == Config("dbname=f", "s_file", 4, 5.0, 30, 100)


def test_priority_flags_env_file_defaults(tmp_path):
    path = tmp_path / "pgqrs.yaml"
    path.write_text("dsn: dbname=file\nschema: s_file\nmax_connections: 4\ndefault_lock_time_seconds: 11\n")
    env = {"PGQRS_CONFIG_FILE": str(path), "PGQRS_SCHEMA": "s_env", "PGQRS_MAX_CONNECTIONS": "5"}
    cfg = Config.load_with_options(environ=env, max_connections=6)
    assert cfg.dsn == "dbname=file"  # only the file has one
    assert cfg.schema == "s_env"  # env beats file
    assert cfg.max_connections == 6  # flag beats env
    assert cfg.default_lock_time_seconds == 11  # file beats default
    assert cfg.default_max_batch_size == 100  # default
    flagged = Config.load_with_options(dsn="dbname=flag", schema="s_flag", environ=env)
    assert (flagged.dsn, flagged.schema) == ("dbname=flag", "s_flag")
    # config_file flag beats PGQRS_CONFIG_FILE
    other = tmp_path / "other.yml"
    other.write_text("dsn: dbname=other\n")
    assert Config.load_with_options(config_file=other, environ=env).dsn == "dbname=other"


def test_load_finds_pgqrs_yaml_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pgqrs.yml").write_text("dsn: dbname=cwd\n")
    assert Config.load(environ={}).dsn == "dbname=cwd"
    assert Config.load(environ={"PGQRS_DSN": "dbname=env"}).dsn == "dbname=env"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("dsn: [unclosed", "is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("dsn: x\ncolour: blue\n", r"unknown key\(s\) colour"),
        ("dsn: x\nmax_connections: many\n", "max_connections from config file .* must be an integer"),
        ("dsn: x\nschema: 'bad-name'\n", "invalid schema name 'bad-name' from config file"),
        ("schema: s\n", "no database DSN"),
        ("dsn: x\nconnection_timeout_seconds: .nan\n", "connection_timeout_seconds .* must be a finite number"),
        ("dsn: x\nconnection_timeout_seconds: .inf\n", "must be a finite number"),
        ("dsn: x\nmax_connections: .inf\n", "must be an integer"),
        ("dsn: x\ndefault_lock_time_seconds: 3000000000\n", "must be at most 2147483647"),
        ("dsn: x\nmax_connections: " + "9" * 5000 + "\n", "holds a value that cannot be read"),
        ("dsn: " + "[" * 3000 + "\n", "nested too deeply"),
    ],
)
def test_file_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as excinfo:
        Config.load_with_options(config_file=path, environ={})
    if "DSN" not in message:
        assert str(path) in str(excinfo.value)


def test_env_errors_name_the_variable():
    with pytest.raises(ConfigError, match="environment variable PGQRS_MAX_CONNECTIONS"):
        Config.load_with_options(environ={"PGQRS_DSN": "x", "PGQRS_MAX_CONNECTIONS": "ten"})
    with pytest.raises(ConfigError, match="environment variable PGQRS_CONNECTION_TIMEOUT"):
        Config.from_env({"PGQRS_DSN": "x", "PGQRS_CONNECTION_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="environment variable PGQRS_SCHEMA"):
        Config.from_env({"PGQRS_DSN": "x", "PGQRS_SCHEMA": "a; DROP TABLE x"})
    with pytest.raises(ConfigError, match="PGQRS_CONFIG_FILE"):
        Config.load_with_options(environ={"PGQRS_CONFIG_FILE": "/nonexistent/pgqrs.yaml"})


def test_flag_errors_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="flag --schema"):
        Config.load_with_options(dsn="x", schema="1starts_with_digit", environ={})
    with pytest.raises(ConfigError, match="flag --max-connections"):
        Config.load_with_options(dsn="x", max_connections="lots", environ={})
    with pytest.raises(ConfigError, match="at least 1"):
        Config.load_with_options(dsn="x", max_connections=0, environ={})
    with pytest.raises(ConfigError, match="unknown configuration option"):
        Config.load_with_options(dsn="x", colour="blue", environ={})
    with pytest.raises(ConfigError, match="from flag"):
        Config.load_with_options(config_file=tmp_path / "missing.yaml", environ={})
    with pytest.raises(ConfigError, match="no database DSN"):
        Config.load_with_options(environ={})


def test_schema_validation_in_constructor():
    with pytest.raises(ConfigError):
        Config(dsn="x", schema="x" * 64)
    assert Config(dsn="x", schema="_" + "x" * 62).schema.startswith("_")


def test_files_that_cannot_be_config_files(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"dsn: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1.yaml' is not UTF-8 text: byte 0xe9 at offset 8"):
        Config.from_file(latin1)
    with pytest.raises(ConfigError, match="is a directory, not a file"):
        Config.load_with_options(config_file=tmp_path, environ={})
    with pytest.raises(ConfigError, match="PGQRS_CONFIG_FILE.* is a directory"):
        Config.load_with_options(environ={"PGQRS_CONFIG_FILE": str(tmp_path)})
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfdsn: dbname=x\n")
    assert Config.from_file(bom).dsn == "dbname=x"


def test_a_huge_value_is_cut_in_the_message():
    with pytest.raises(ConfigError) as excinfo:
        Config.from_env({"PGQRS_DSN": "x", "PGQRS_MAX_CONNECTIONS": "x" * 100_000})
    assert len(str(excinfo.value)) < 200 and str(excinfo.value).endswith("...")
    with pytest.raises(ConfigError, match="finite"):
        Config.from_env({"PGQRS_DSN": "x", "PGQRS_CONNECTION_TIMEOUT": "nan"})

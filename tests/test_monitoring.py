"""Monitoring: `pgqrs queue metrics --format prometheus`, and the postgres_exporter queries
file, run against a real server as a role with no more than pgqrs_producer's rights."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from pgqrs import Admin, Config, Producer
from pgqrs._output import PROMETHEUS_GAUGES
from pgqrs.cli import cli

from conftest import REPO

EXPORTER_FILE = REPO / "monitoring" / "postgres_exporter.yaml"


@pytest.fixture
def busy(dsn):
    """Queues in several states: alpha has ready, leased, delayed and dead-lettered messages; beta is paused."""
    with Admin(Config(dsn=dsn)) as admin:
        admin.create_queue("alpha", max_attempts=1)
        admin.create_queue("beta")
        producer = Producer(admin.pool, "alpha", admin.config)
        producer.batch_enqueue([{"n": n} for n in range(5)])
        producer.enqueue({"later": True}, delay_seconds=600)
        with admin.pool.connection() as conn:
            conn.execute("SELECT pgqrs.dequeue('alpha', 1, 0)")  # its one attempt, used up
            conn.execute("SELECT pgqrs.dequeue('alpha', 1, 600)")  # buries the first, leases the next
        admin.pause_queue("beta")
        yield admin.metrics_all()


def prometheus(dsn: str, *args: str) -> dict[tuple[str, str], float]:
    result = CliRunner().invoke(cli, ["--dsn", dsn, "queue", "metrics", *args, "--format", "prometheus"])
    assert result.exit_code == 0, result.output
    samples = {}
    for family in text_string_to_metric_families(result.stdout):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            samples[(sample.name, sample.labels["queue_name"])] = sample.value
    return samples


def test_prometheus_format(dsn, busy):
    samples = prometheus(dsn)
    alpha, beta = busy
    assert samples[("pgqrs_queue_ready", "alpha")] == alpha.ready == 3
    assert samples[("pgqrs_queue_in_flight", "alpha")] == 1
    assert samples[("pgqrs_queue_delayed", "alpha")] == 1
    assert samples[("pgqrs_queue_dead_lettered", "alpha")] == 1
    assert samples[("pgqrs_queue_archived", "alpha")] == 0
    assert 0 < samples[("pgqrs_queue_oldest_ready_age_seconds", "alpha")] < 60
    assert samples[("pgqrs_queue_oldest_ready_age_seconds", "beta")] == 0  # none ready
    assert (samples[("pgqrs_queue_paused", "alpha")], samples[("pgqrs_queue_paused", "beta")]) == (0, 1)
    assert len(samples) == len(PROMETHEUS_GAUGES) * 2
    assert set(prometheus(dsn, "beta")) == {(name, "beta") for name, _ in samples}


def test_metrics_subcommand_format_overrides_the_global_one(dsn, busy):
    result = CliRunner().invoke(cli, ["--dsn", dsn, "--format", "table", "queue", "metrics", "beta", "--format", "json"])
    assert result.exit_code == 0 and '"paused": true' in result.stdout


@pytest.fixture
def monitor_dsn(dsn):
    """A login role with pgqrs_producer's rights only, as a monitoring agent would have."""
    role = f"monitor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE pgqrs_producer").format(sql.Identifier(role)))
    yield f"{dsn} user={role}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_exporter_queries_run_and_match_the_cli(monitor_dsn, busy):
    queries = yaml.safe_load(EXPORTER_FILE.read_text())
    assert set(queries) == {"pgqrs_queue", "pgqrs_workers"}
    with psycopg.connect(monitor_dsn) as conn:
        for prefix, spec in queries.items():
            cur = conn.execute(spec["query"])
            declared = [next(iter(metric)) for metric in spec["metrics"]]
            assert [column.name for column in cur.description] == declared, prefix
            usages = {name: metric[name]["usage"] for metric in spec["metrics"] for name in metric}
            assert set(usages.values()) <= {"LABEL", "GAUGE"}
            rows = cur.fetchall()
            if prefix == "pgqrs_queue":
                assert [row[0] for row in rows] == ["alpha", "beta"]
                gauges = [name for name in declared if usages[name] == "GAUGE"]
                # The same names and labels as `pgqrs queue metrics --format prometheus`.
                assert gauges == [name for name, _ in PROMETHEUS_GAUGES]
                assert rows[1][declared.index("paused")] == 1

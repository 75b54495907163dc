"""docker/: what can be checked without a Docker engine (there is none here).

Every file the Dockerfiles copy exists, the files the extension image copies are
enough for `make install`, the init script creates pgqrs on a real server, and
the commands the worker runs are valid `pgqrs` commands with a handler that imports.
"""

from __future__ import annotations

import importlib
import re
import shlex
import shutil
import subprocess
import sys

import click
import psycopg

from pgqrs.install import script_version
import pytest
import yaml

from pgqrs.cli import cli

from conftest import REPO

DOCKER = REPO / "docker"


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / dockerfile).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def copied(dockerfile: str) -> list[str]:
    """The sources of the COPY instructions that copy from the build context."""
    sources = []
    for instruction, args in instructions(dockerfile):
        if instruction == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    return sources


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_compose_builds_both_images_from_files_that_exist():
    services = compose()["services"]
    assert set(services) == {"db", "worker"}
    for service in services.values():
        context = (DOCKER / service["build"]["context"]).resolve()
        assert context == REPO
        assert (context / service["build"]["dockerfile"]).is_file()
    assert services["worker"]["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "worker.Dockerfile"])
def test_every_copied_file_exists(dockerfile):
    sources = copied(dockerfile)
    assert sources
    for source in sources:
        assert list(REPO.glob(source.rstrip("/"))), f"{dockerfile} copies {source}, which is not in the repository"


def test_the_copied_files_are_enough_for_make_install(tmp_path):
    build = tmp_path / "src"
    for source in copied("Dockerfile"):
        if source.startswith("docker/"):
            continue  # the final stage's init scripts
        for path in REPO.glob(source.rstrip("/")):
            target = build / path.relative_to(REPO)
            if path.is_dir():
                shutil.copytree(path, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    assert ("RUN", "make install") in instructions("Dockerfile")
    subprocess.run(["make", "-s", "-C", str(build), "install", f"DESTDIR={tmp_path / 'root'}"],
                   check=True, capture_output=True)
    installed = {p.name for p in (tmp_path / "root").rglob("pgqrs*")}
    scripts = {p.name for p in (REPO / "extension" / "upgrade").iterdir()}  # built by make
    scripts |= {p.name for p in (REPO / "extension" / "released").iterdir()}
    assert {"pgqrs.control", f"pgqrs--{_version()}.sql"} | scripts <= installed


def _version() -> str:
    return script_version()  # the package's reading of pgqrs.control


def test_the_init_script_creates_pgqrs(empty_dsn):
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        for script in sorted((DOCKER / "initdb").iterdir()):
            conn.execute(script.read_text())
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgqrs'").fetchone()[0] == _version()


def test_the_worker_runs_the_projects_own_commands():
    command = [args for instruction, args in instructions("worker.Dockerfile") if instruction == "CMD"][-1]
    script = yaml.safe_load(command)[-1]  # ["sh", "-c", "..."]
    invocations = [shlex.split(part.replace("exec ", "", 1)) for part in script.split("&&")]
    assert [argv[0] for argv in invocations] == ["pgqrs", "pgqrs"]
    for argv in invocations:
        # Find the command as click would, then parse its arguments and options, running nothing.
        command, args = cli, argv[1:]
        while isinstance(command, click.Group):
            command, args = command.get_command(click.Context(command), args[0]), args[1:]
            assert command is not None, argv
        ctx = command.make_context(command.name, args)
        if ctx.command.name == "run":
            module, function = ctx.params["handler"].split(":")
            sys.path.insert(0, str(REPO / "examples"))
            try:
                assert callable(getattr(importlib.import_module(module), function))
            finally:
                sys.path.remove(str(REPO / "examples"))
    env = compose()["services"]["worker"]["environment"]
    assert env["PGQRS_DSN"].startswith("postgresql://") and "@db:5432/" in env["PGQRS_DSN"]

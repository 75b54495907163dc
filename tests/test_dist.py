"""The PGXN distribution (make dist): META.json valid for the PGXN Meta Spec, only the
extension in the zip, and enough in it to build the very install script the package carries."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import zipfile

from pgqrs.install import install_script, script_version, upgrade_scripts

from conftest import REPO

_spec = importlib.util.spec_from_file_location("dist", REPO / "tools" / "dist.py")
dist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dist)


def test_meta_json_is_valid_and_current():
    meta = json.loads((REPO / "META.json").read_text())
    assert dist.check_meta(meta, REPO) == []
    assert meta["version"] == meta["provides"]["pgqrs"]["version"] == script_version()


def test_meta_check_names_what_is_wrong():
    meta = json.loads((REPO / "META.json").read_text())
    bad = {**meta, "version": "1.0", "license": "gpl", "homepage": "x", "release_status": "final"}
    del bad["provides"]
    bad["prereqs"] = {"runtime": {"requires": {"PostgreSQL": "fifteen"}}, "later": {}}
    assert dist.check_meta(bad) == [
        "provides is required",
        "homepage is not a key of the spec (custom keys start with x_)",
        "version '1.0' is not a semantic version",
        "license 'gpl' is not one of the spec's",
        "provides must name at least one extension",
        "release_status must be stable, testing or unstable",
        "prereqs.runtime.requires.PostgreSQL: 'fifteen' is not a version or range",
        "prereqs.later is not a phase of the spec",
    ]
    assert dist.check_meta({**meta, "x_custom": 1, "prereqs": {"runtime": {"requires": {"plpgsql": 0}}}}) == []


def test_dist_holds_the_extension_only_and_builds(tmp_path):
    subprocess.run(["make", "-s", "-C", str(REPO), "dist", f"DIST_DIR={tmp_path}"], check=True, capture_output=True)
    prefix = f"pgqrs-{script_version()}/"
    with zipfile.ZipFile(tmp_path / f"pgqrs-{script_version()}.zip") as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    assert all(name.startswith(prefix) for name in names)
    inside = {name[len(prefix):] for name in names}
    assert {"pgqrs.control", "META.json", "Makefile", "LICENSE", "README.md", "CHANGELOG.md"} <= inside
    assert {path.split("/")[0] for path in inside} == {
        "pgqrs.control", "META.json", "Makefile", "LICENSE", "README.md", "CHANGELOG.md", "extension"}
    assert not any("/results/" in path for path in inside)
    released = {f"extension/released/{p.name}" for p in (REPO / "extension" / "released").iterdir()}
    upgrades = {f"extension/upgrade/{p.name}" for p in (REPO / "extension" / "upgrade").iterdir()}
    assert released and upgrades and released | upgrades <= inside
    # make in the unpacked zip (PGXS, as pgxn install runs it) builds the scripts the package carries:
    # the Makefile's build and the Python package's are one and the same text.
    unpacked = tmp_path / prefix
    subprocess.run(["make", "-s", "-C", str(unpacked)], check=True, capture_output=True)
    assert (unpacked / "extension" / f"pgqrs--{script_version()}.sql").read_text() == install_script()
    for source in (REPO / "extension" / "upgrade").iterdir():
        old, new = re.fullmatch(r"pgqrs--(.+)--(.+)\.sql", source.name).groups()
        assert (unpacked / "extension" / source.name).read_text() == dict(upgrade_scripts(old, new))[source.name]


def test_bump_version_freezes_the_release_and_starts_the_next(tmp_path):
    tree = tmp_path / "pgqrs"
    for name in ("pgqrs.control", "META.json", "Makefile", "README.md"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "tools", tree / "tools")
    shutil.copytree(REPO / "extension", tree / "extension", ignore=shutil.ignore_patterns("results"))
    current = script_version()
    major, minor, _ = current.split(".")
    after = f"{major}.{int(minor) + 1}.0"

    def bump(version: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-s", "-C", str(tree), "bump-version", f"VERSION={version}"],
                              capture_output=True, text=True)

    assert bump(current).returncode != 0 and "is not after" in bump(current).stderr
    assert bump("next").returncode != 0
    done = bump(after)
    assert done.returncode == 0, done.stderr
    assert f"default_version = '{after}'" in (tree / "pgqrs.control").read_text()
    meta = json.loads((tree / "META.json").read_text())
    assert meta["version"] == meta["provides"]["pgqrs"]["version"] == after
    assert meta["meta-spec"]["version"] == "1.0.0"
    assert (tree / "extension" / "released" / f"pgqrs--{current}.sql").read_text() == install_script()
    # The upgrade script to the released version is frozen as built; its hand-written part goes.
    for source in (REPO / "extension" / "upgrade").glob(f"pgqrs--*--{current}.sql"):
        old = source.name.split("--")[1]
        assert (tree / "extension" / "released" / source.name).read_text() == dict(
            upgrade_scripts(old, current))[source.name]
        assert not (tree / "extension" / "upgrade" / source.name).exists()
    assert "-- pgqrs:functions" in (tree / "extension" / "upgrade" / f"pgqrs--{current}--{after}.sql").read_text()
    # The new version builds, its upgrade script has every function, and the frozen ones are installed beside it.
    subprocess.run(["make", "-s", "-C", str(tree), f"DESTDIR={tmp_path / 'root'}", "install"], check=True,
                   capture_output=True)
    upgrade = (tree / "extension" / f"pgqrs--{current}--{after}.sql").read_text()
    assert f"SELECT '{after}'::text" in upgrade and "CREATE OR REPLACE FUNCTION @extschema@.version()" in upgrade
    installed = {p.name for p in (tmp_path / "root").rglob("pgqrs--*.sql")}
    assert {f"pgqrs--{after}.sql", f"pgqrs--{current}.sql", f"pgqrs--{current}--{after}.sql"} <= installed

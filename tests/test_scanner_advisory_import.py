"""`storemod advisories import` end to end: files, folders and zips, "modified" wins,
withdrawn advisories stop matching, bad records skipped by id, one transaction."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from models.identity import Role
from persistence.migrate import upgrade
from persistence.store import Store
from scanner.osv import parse_record
from tests.conftest_db import PgDatabases, asyncpg_dsn
from tests.imagebuild import write_oci_layout

ROOT = Path(__file__).resolve().parents[1]
STOREMOD = str(ROOT / ".venv" / "bin" / "storemod")
FIXTURES = Path(__file__).parent / "fixtures"
DEBIAN = json.loads((FIXTURES / "osv" / "debian" / "DEBIAN-CVE-2026-28388.json").read_text())
CVE = json.loads((FIXTURES / "osv" / "debian" / "CVE-2026-28388.json").read_text())
LAYERS: list[Any] = [
    {"etc/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes()},
    {"var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()},
]


async def cli_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """Environment for the CLI on ``db_url`` (migrated), with moderator mia."""
    await upgrade(db_url)
    store = await Store.open(db_url)
    await store.add_user("mia", Role.MODERATOR)
    await store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMOD_")}
    return {
        **env,
        "STOREMOD_DATA_DIR": str(tmp_path / "data"),
        "STOREMOD_DATABASE_URL": db_url,
        "STOREMOD_LOG_FORMAT": "json",
    }


def storemod(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOREMOD, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def cves_found(env: dict[str, str], ref: str) -> set[tuple[str, str]]:
    result = storemod(env, "scan", ref, "--format", "json")
    assert result.returncode == 0, result.stderr
    return {(f["cve_id"], f["package"]) for f in json.loads(result.stdout)["findings"]}


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


async def test_incremental_import_withdrawal_and_bad_records(
    tmp_path: Path, pg_databases: PgDatabases
) -> None:
    env = await cli_env(tmp_path, await pg_databases.create())
    image = write_oci_layout(tmp_path / "img", LAYERS)

    # A folder: two good records, a list holding a bad record, a file that is not JSON.
    feed = tmp_path / "feed"
    write(feed / "debian" / "DEBIAN-CVE-2026-28388.json", DEBIAN)
    write(feed / "nvd" / "CVE-2026-28388.json", CVE)
    write(feed / "batch.json", [{"id": "DSA-9999-1", "modified": "yesterday"}])
    (feed / "garbage.json").write_text("{not json")
    result = storemod(env, "--as", "mia", "advisories", "import", str(feed))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 2 new, 0 updated, 0 unchanged, 2 skipped"
    assert "skipped DSA-9999-1: modified is not an RFC 3339 timestamp" in result.stderr
    assert "skipped garbage.json: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    assert cves_found(env, image) == {("CVE-2026-28388", "openssl"), ("CVE-2026-28388", "libssl3")}

    # A zip export: the Debian record withdrawn upstream (newer), and a stale copy of
    # the CVE record whose severity must not replace the stored one.
    withdrawn = {
        **copy.deepcopy(DEBIAN),
        "modified": "2026-06-01T10:00:00Z",
        "withdrawn": "2026-06-01T10:00:00Z",
    }
    stale = {
        **copy.deepcopy(CVE),
        "modified": "2026-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L"}],
    }
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DEBIAN-CVE-2026-28388.json", json.dumps(withdrawn))
        archive.writestr("CVE-2026-28388.json", json.dumps(stale))
    result = storemod(env, "--as", "mia", "advisories", "import", str(export))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 0 new, 1 updated, 1 unchanged, 0 skipped"
    assert result.stderr == ""

    # Importing the old folder again brings back neither the old record nor its finding.
    result = storemod(env, "--as", "mia", "advisories", "import", str(feed / "debian"))
    assert result.stdout.strip() == "imported 0 new, 0 updated, 1 unchanged, 0 skipped"
    assert cves_found(env, image) == set()

    store = await Store.open(env["STOREMOD_DATABASE_URL"])
    try:
        kept = await store.advisories_by_ids(["DEBIAN-CVE-2026-28388", "CVE-2026-28388"])
    finally:
        await store.close()
    assert kept["DEBIAN-CVE-2026-28388"].withdrawn is not None
    assert kept["CVE-2026-28388"].severity == CVE["severity"]


FAILING_ID = "ZZZ-FAIL-1"
SQLITE_TRIGGER = f"""
CREATE TRIGGER fail_import BEFORE INSERT ON advisory_packages
WHEN NEW.advisory_id = '{FAILING_ID}'
BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;
"""
PG_TRIGGER = f"""
CREATE FUNCTION fail_import() RETURNS trigger AS $$
BEGIN
    IF NEW.advisory_id = '{FAILING_ID}' THEN
        RAISE EXCEPTION 'simulated storage failure';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fail_import BEFORE INSERT ON advisory_packages
FOR EACH ROW EXECUTE FUNCTION fail_import();
"""


def new_record(advisory_id: str, package: str) -> dict[str, Any]:
    record = copy.deepcopy(DEBIAN)
    record.update(id=advisory_id, upstream=[])
    record["affected"][0]["package"]["name"] = package
    return record


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_database_failure_mid_import_leaves_nothing(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'storemod.db'}"
    else:
        url = await request.getfixturevalue("pg_databases").create()
    env = await cli_env(tmp_path, url)
    store = await Store.open(url)
    await store.import_advisories([parse_record(DEBIAN)])
    await store.close()
    if engine == "sqlite":
        with sqlite3.connect(tmp_path / "storemod.db") as conn:
            conn.executescript(SQLITE_TRIGGER)
    else:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(PG_TRIGGER)
        finally:
            await conn.close()

    # An update of the stored record, 40 new records, and the one the database refuses:
    # its index row is written last of the new ones, after every advisory row.
    feed = tmp_path / "feed"
    newer = copy.deepcopy(DEBIAN)
    newer.update(modified="2026-07-01T00:00:00Z", summary="updated")
    write(feed / "DEBIAN-CVE-2026-28388.json", newer)
    for n in range(40):
        write(feed / f"AAA-{n:03}.json", new_record(f"AAA-{n:03}", f"pkg{n}"))
    write(feed / f"{FAILING_ID}.json", new_record(FAILING_ID, "zlib"))

    result = storemod(env, "--as", "mia", "advisories", "import", str(feed))
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: the database refused the import, nothing was imported")
    assert "simulated storage failure" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""

    store = await Store.open(url)
    try:
        assert await store.count_advisories() == 1
        (kept,) = (await store.advisories_by_ids(["DEBIAN-CVE-2026-28388"])).values()
        assert kept.summary == "" and kept.modified.year == 2026 and kept.modified.month == 4
        assert await store.advisories_for("Debian:12", ["pkg0", "pkg39", "zlib"]) == []
    finally:
        await store.close()


async def test_nothing_valid_or_nothing_readable_is_an_error(tmp_path: Path) -> None:
    env = await cli_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'storemod.db'}")
    bad = write(tmp_path / "bad.json", [{"id": "DSA-1-1"}, {"id": "DSA-2-1"}])
    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(corrupt, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DEBIAN-CVE-2026-28388.json", json.dumps(DEBIAN))
    data = bytearray(corrupt.read_bytes())
    data[60] ^= 0xFF  # inside the compressed member: its CRC no longer matches
    corrupt.write_bytes(bytes(data))
    good = write(tmp_path / "good.json", DEBIAN)

    result = storemod(env, "--as", "mia", "advisories", "import", str(bad))
    assert result.returncode == 2
    assert "skipped DSA-1-1: missing modified timestamp" in result.stderr
    assert "error: none of the 2 records in" in result.stderr

    # Several sources are one import: a damaged one stops all of them.
    result = storemod(env, "--as", "mia", "advisories", "import", str(good), str(corrupt))
    assert result.returncode == 2
    assert "corrupt.zip: DEBIAN-CVE-2026-28388.json cannot be read" in result.stderr
    assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr

    store = await Store.open(env["STOREMOD_DATABASE_URL"])
    try:
        assert await store.count_advisories() == 0
    finally:
        await store.close()

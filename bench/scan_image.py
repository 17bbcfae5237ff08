"""Scanner benchmark: a large local image against plain decompression, peak RSS, matching.

    .venv/bin/python -m bench.scan_image [--size-mb 400] [--copies 4] [--advisories 20000]
                                         [--db sqlite|postgres] [--repeat 3] [--workdir DIR]

1. Builds (once; reused from ``--workdir`` while the parameters are unchanged) an
   OCI image layout of ``--size-mb`` uncompressed MB in five gzip layers: this
   machine's ``/var/lib/dpkg/status`` with ``/etc/os-release``, then real files
   from ``/usr`` (binaries, libraries, Python and npm packages) to reach the size,
   then a dpkg database of ``--copies`` x the machine's packages (real stanzas;
   the copies renamed ``NAME-bN`` with their ``Source:``), with whiteouts.
2. Times, in the same run and interleaved ``--repeat`` times (best of each kept):
   ``gzip -dc LAYER | tar -t`` over every layer, and a scan of the image
   (``read_inventory``: digests, whiteouts, inventory) in a child process that
   reports its ``ru_maxrss``; an idle child (same imports, no scan) gives the floor.
3. Writes ``--advisories`` Debian-format OSV records (``DEBIAN-CVE-*``, the shape of
   Debian's OSV export, a third about installed source packages, 5% withdrawn)
   plus a ``CVE-*`` record with a CVSS vector for half of them into an osv.dev
   style zip, imports it into a fresh store (one transaction) and times matching
   the inventory against it: the indexed lookup alone (baseline), the built-in
   scanner's full match, and the in-memory version comparisons alone.

Prints the figures; exits 1 with a one-line reason when something fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import io
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
BULK_LAYERS = 3
MAX_BULK_FILE = 4 * 1024 * 1024
BUILD_VERSION = 3  # bump when the image recipe changes, so cached images are rebuilt


class BenchError(Exception):
    """The benchmark could not run."""


# ------------------------------------------------------------------ the image


class _Hashing:
    """A write-only stream that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO | Any) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.count += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        pass


@dataclass
class BuiltLayer:
    digest: str
    diff_id: str
    size: int  # compressed
    expanded: int  # uncompressed tar bytes
    created_by: str


class LayerWriter:
    """Streams one gzip tar layer into the layout's blob folder."""

    def __init__(self, blobs: Path, created_by: str) -> None:
        self.blobs = blobs
        self.created_by = created_by
        self.tmp = blobs / f"tmp-{uuid.uuid4().hex}"
        self.file = self.tmp.open("wb")
        self.compressed = _Hashing(self.file)
        self.gz = gzip.GzipFile(fileobj=self.compressed, mode="wb", compresslevel=6, mtime=0)  # type: ignore[arg-type]
        self.tar_hash = _Hashing(self.gz)
        self.tar = tarfile.open(fileobj=self.tar_hash, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]  # noqa: SIM115
        self.dirs: set[str] = set()

    def _parents(self, arcname: str) -> None:
        parts = arcname.split("/")[:-1]
        for n in range(1, len(parts) + 1):
            path = "/".join(parts[:n])
            if path not in self.dirs:
                self.dirs.add(path)
                info = tarfile.TarInfo(path)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                self.tar.addfile(info)

    def add_bytes(self, arcname: str, data: bytes) -> None:
        self._parents(arcname)
        info = tarfile.TarInfo(arcname)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        self.tar.addfile(info, io.BytesIO(data))

    def add_path(self, path: Path, arcname: str) -> int:
        """A file or symlink from this machine; returns the bytes of content added."""
        self._parents(arcname)
        info = self.tar.gettarinfo(str(path), arcname)
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if info.isreg():
            with path.open("rb") as handle:
                self.tar.addfile(info, handle)
            return info.size
        if info.issym():
            self.tar.addfile(info)
        return 0

    def add_whiteout(self, path: str) -> None:
        parent, _, base = path.rpartition("/")
        self.add_bytes(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")

    def close(self) -> BuiltLayer:
        self.tar.close()
        self.gz.close()
        self.file.close()
        digest = "sha256:" + self.compressed.sha.hexdigest()
        self.tmp.rename(self.blobs / digest.split(":", 1)[1])
        return BuiltLayer(
            digest,
            "sha256:" + self.tar_hash.sha.hexdigest(),
            self.compressed.count,
            self.tar_hash.count,
            self.created_by,
        )


def dpkg_stanzas() -> list[str]:
    """The installed-package stanzas of this machine's dpkg database, as written."""
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        raise BenchError("needs a Debian-like machine: /var/lib/dpkg/status is missing")
    stanzas = [s.strip("\n") for s in status.read_text("utf-8", "replace").split("\n\n")]
    installed = re.compile(r"^Status: (?:install|hold) ok installed$", re.MULTILINE)
    return [s for s in stanzas if s.startswith("Package:") and installed.search(s)]


def renamed(stanza: str, suffix: str) -> str:
    """A copy of a real stanza under another binary name, keeping (or naming) its source."""
    lines = stanza.split("\n")
    name = lines[0].split(":", 1)[1].strip()
    lines[0] = f"Package: {name}{suffix}"
    if not any(line.startswith("Source:") for line in lines):
        lines.insert(1, f"Source: {name}")
    return "\n".join(lines)


def usr_files() -> Iterator[Path]:
    """Files and symlinks under /usr, taking from each top folder in turn (binaries,
    libraries, headers, docs). Files over ``MAX_BULK_FILE`` are left out: a few huge
    binaries would otherwise fill the size with a tenth of a real image's file count."""

    def walk(top: str) -> Iterator[Path]:
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                try:
                    if path.lstat().st_size <= MAX_BULK_FILE:
                        yield path
                except OSError:
                    continue

    walkers = [walk(str(p)) for p in sorted(Path("/usr").iterdir()) if p.is_dir()]
    while walkers:
        for walker in list(walkers):
            try:
                yield next(walker)
            except StopIteration:
                walkers.remove(walker)


def build_image(folder: Path, size_mb: int, copies: int) -> dict[str, Any]:
    """Write the OCI layout (unless a matching one is there); returns its description."""
    recipe = {"version": BUILD_VERSION, "size_mb": size_mb, "copies": copies}
    done = folder / "image.json"
    if done.is_file():
        described = json.loads(done.read_text())
        if described.get("recipe") == recipe:
            described["reused"] = True
            return described
    shutil.rmtree(folder, ignore_errors=True)
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    stanzas = dpkg_stanzas()
    os_release = Path("/etc/os-release").read_bytes()
    started = time.perf_counter()

    layers: list[BuiltLayer] = []
    files = 0
    base = LayerWriter(blobs, "debootstrap (this machine's dpkg status)")
    base.add_bytes("etc/os-release", os_release)
    base.add_bytes("var/lib/dpkg/status", ("\n\n".join(stanzas) + "\n").encode())
    layers.append(base.close())

    target = size_mb * 1024 * 1024
    per_layer = target / BULK_LAYERS
    source = usr_files()
    first_files: list[str] = []
    for n in range(BULK_LAYERS):
        writer = LayerWriter(blobs, f"COPY /usr /usr  # part {n + 1}/{BULK_LAYERS}")
        while writer.tar_hash.count < per_layer:
            try:
                path = next(source)
            except StopIteration:
                raise BenchError(f"/usr holds less than {size_mb} MB of files") from None
            arcname = str(path).lstrip("/")
            try:
                writer.add_path(path, arcname)
            except OSError:
                continue  # unreadable (a socket, a permission): real images skip them too
            files += 1
            if n == 0 and len(first_files) < 50 and path.is_file() and not path.is_symlink():
                first_files.append(arcname)
        layers.append(writer.close())

    top = LayerWriter(blobs, f"RUN apt-get install ... ({copies} x the packages)")
    all_stanzas = list(stanzas)
    for c in range(1, copies):
        all_stanzas += [renamed(s, f"-b{c}") for s in stanzas]
    top.add_bytes("var/lib/dpkg/status", ("\n\n".join(all_stanzas) + "\n").encode())
    for arcname in first_files[:20]:
        top.add_whiteout(arcname)  # files deleted by a later layer, as apt-get clean does
    layers.append(top.close())

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000", "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": layer.created_by} for layer in layers],
    }
    config_bytes = json.dumps(config).encode()
    config_digest = _put(blobs, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _put(blobs, manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    described = {
        "recipe": recipe,
        "ref": f"oci:{folder}:bench",
        "layers": [asdict(layer) for layer in layers],
        "files": files,
        "packages": len(all_stanzas),
        "build_seconds": time.perf_counter() - started,
    }
    done.write_text(json.dumps(described, indent=1))
    described["reused"] = False
    return described


def _put(blobs: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.split(":", 1)[1]).write_bytes(data)
    return digest


# ------------------------------------------------------------------ timing the scan


def time_decompression(folder: Path, layers: list[dict[str, Any]]) -> float:
    """Seconds for ``gzip -dc LAYER | tar -t > /dev/null`` over every layer, in turn."""
    started = time.perf_counter()
    for layer in layers:
        blob = folder / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]
        subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"gzip -dc '{blob}' | tar -t > /dev/null"],
            check=True,
            timeout=3600,
        )
    return time.perf_counter() - started


def run_child(*args: str) -> dict[str, Any]:
    """Run this module in a child interpreter; it answers one JSON line."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scan_image", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"child {' '.join(args)} failed: {last}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child_scan(ref: str, out: str | None) -> None:
    """(In the child) scan ``ref``, report seconds, component count and ru_maxrss."""
    from scanner.inventory import read_inventory

    started = time.perf_counter()
    inventory = read_inventory(ref)
    seconds = time.perf_counter() - started
    if out:
        Path(out).write_text(json.dumps([asdict(c) for c in inventory.components]))
    kinds: dict[str, int] = defaultdict(int)
    for c in inventory.components:
        kinds[c.purl.split("/", 1)[0].removeprefix("pkg:")] += 1
    print(
        json.dumps(
            {
                "seconds": seconds,
                "components": len(inventory.components),
                "kinds": kinds,
                "ecosystem": inventory.ecosystem,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def child_idle() -> None:
    """(In the child) the same imports as a scan, no scan: the RSS floor."""
    import scanner.inventory  # noqa: F401

    print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


# ------------------------------------------------------------------ advisories


def write_advisories(
    path: Path, components: list[dict[str, Any]], count: int, ecosystem: str, seed: int = 7
) -> dict[str, int]:
    """An osv.dev-style zip of ``count`` DEBIAN-CVE records (+ CVE records with CVSS)."""
    template = json.loads(
        (ROOT / "tests" / "fixtures" / "osv" / "debian" / "DEBIAN-CVE-2026-28388.json").read_text()
    )
    rng = random.Random(seed)
    sources: dict[str, list[str]] = defaultdict(list)  # source name -> installed versions
    for c in components:
        if c["purl"].startswith("pkg:deb/"):
            sources[c["source_name"] or c["name"]].append(c["version"])
    installed = sorted(sources)
    # Popular sources (a kernel, a libc, openssl) carry most CVEs: a skewed pick.
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(installed))]
    rng.shuffle(installed)
    vectors = [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
        "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L",
    ]
    stats = {"debian": 0, "cve": 0, "about_installed": 0, "withdrawn": 0}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(count):
            cve = f"CVE-{2000 + n % 26}-{10000 + n}"
            record = json.loads(json.dumps(template))
            record["id"] = f"DEBIAN-{cve}"
            record["upstream"] = [cve]
            record["modified"] = f"2026-0{1 + n % 9}-1{n % 10}T00:00:00Z"
            record["details"] = f"Synthetic advisory {n} in the shape of Debian's OSV export."
            affected = record["affected"][0]
            affected["package"]["ecosystem"] = ecosystem
            if n % 3 == 0 and installed:
                name = rng.choices(installed, weights)[0]
                version = rng.choice(sources[name])
                stats["about_installed"] += 1
                roll = rng.random()
                if roll < 0.5:
                    fixed: str | None = version + "+deb12u9"  # fixed after the installed one
                elif roll < 0.85:
                    fixed = "0.1-1"  # fixed long ago: not affected
                else:
                    fixed = None  # no fix yet: affected
            else:
                name = f"unrelated{n % 9000}"
                fixed = f"{1 + n % 7}.{n % 11}-1"
            affected["package"]["name"] = name
            affected["package"]["purl"] = f"pkg:deb/debian/{name}?arch=source"
            events: list[dict[str, str]] = [{"introduced": "0"}]
            if fixed:
                events.append({"fixed": fixed})
            affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
            if n % 20 == 0:
                record["withdrawn"] = record["modified"]
                stats["withdrawn"] += 1
            archive.writestr(f"{record['id']}.json", json.dumps(record))
            stats["debian"] += 1
            if n % 2 == 0:
                nvd = {
                    "id": cve,
                    "modified": "2026-05-01T00:00:00Z",
                    "details": "CVE record carrying the CVSS vector.",
                    "severity": [{"type": "CVSS_V3", "score": vectors[n % len(vectors)]}],
                }
                archive.writestr(f"{cve}.json", json.dumps(nvd))
                stats["cve"] += 1
    return stats


async def time_matching(
    db_url: str, zip_path: Path, components: list[dict[str, Any]], repeat: int
) -> dict[str, Any]:
    """Import the zip into a fresh store, then time lookup, full match, in-memory match."""
    from models.advisory import Advisory
    from models.scan import Component
    from persistence.migrate import upgrade
    from persistence.store import Store
    from scanner.interface import BuiltinScanner
    from scanner.matching import match
    from scanner.osv import read_records
    from scanner.severity import related_ids

    await upgrade(db_url)
    store = await Store.open(db_url)
    try:
        started = time.perf_counter()
        records = [r for r in read_records(zip_path) if isinstance(r, Advisory)]
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        outcome = await store.import_advisories(records)
        import_seconds = time.perf_counter() - started
        comps = [Component(**c) for c in components]
        scanner = BuiltinScanner(store)

        async def lookup() -> tuple[list[Advisory], dict[str, Advisory]]:
            # What BuiltinScanner.match fetches, without comparing any version.
            names: dict[str, set[str]] = defaultdict(set)
            for c in comps:
                if c.ecosystem:
                    names[c.ecosystem].update(n for n in (c.name, c.source_name) if n)
            found: dict[str, Advisory] = {}
            for ecosystem, wanted in sorted(names.items()):
                for advisory in await store.advisories_for(ecosystem, wanted):
                    found[advisory.id] = advisory
            ids = set().union(*(related_ids(a) for a in found.values())) if found else set()
            return list(found.values()), await store.advisories_by_ids(ids)

        times: dict[str, list[float]] = defaultdict(list)
        findings = 0
        fetched: tuple[list[Advisory], dict[str, Advisory]] = ([], {})
        for _ in range(repeat):
            started = time.perf_counter()
            fetched = await lookup()
            times["lookup"].append(time.perf_counter() - started)
            started = time.perf_counter()
            findings = len(await scanner.match(comps))
            times["match"].append(time.perf_counter() - started)
            started = time.perf_counter()
            match(comps, fetched[0], fetched[1])
            times["compare"].append(time.perf_counter() - started)
        return {
            "stored": await store.count_advisories(),
            "inserted": outcome.inserted,
            "read_seconds": read_seconds,
            "import_seconds": import_seconds,
            "fetched": len(fetched[0]),
            "related": len(fetched[1]),
            "findings": findings,
            **{name: min(values) for name, values in times.items()},
        }
    finally:
        await store.close()


async def fresh_database(kind: str, workdir: Path) -> tuple[str, Any]:
    """A new database URL and a coroutine function that removes it."""
    if kind == "sqlite":
        path = workdir / f"advisories-{uuid.uuid4().hex[:8]}.db"

        async def drop_file() -> None:
            path.unlink(missing_ok=True)

        return f"sqlite+aiosqlite:///{path}", drop_file
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = os.environ.get("STOREMOD_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
    dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"storemod_bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as err:
        raise BenchError(f"PostgreSQL at {admin} is not reachable: {err}") from None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop_database() -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return make_url(admin).set(database=name).render_as_string(hide_password=False), drop_database


# ------------------------------------------------------------------ main


def mb(count: float) -> str:
    return f"{count / 1024 / 1024:.0f} MB"


async def bench(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    image = build_image(workdir / "image", args.size_mb, args.copies)
    layers = image["layers"]
    compressed = sum(layer["size"] for layer in layers)
    expanded = sum(layer["expanded"] for layer in layers)
    how = "reused" if image["reused"] else f"built in {image['build_seconds']:.0f} s"
    print(
        f"image: {len(layers)} gzip layers, {mb(compressed)} compressed, {mb(expanded)} "
        f"as tar, {image['files']} files from /usr, {image['packages']} dpkg packages ({how})",
        flush=True,
    )

    components_file = workdir / "components.json"
    gunzip: list[float] = []
    scans: list[dict[str, Any]] = []
    idle: list[int] = []
    for _ in range(args.repeat):  # interleaved: a change in machine load hits both
        gunzip.append(time_decompression(workdir / "image", layers))
        scans.append(run_child("--child-scan", image["ref"], "--out", str(components_file)))
        idle.append(run_child("--child-idle")["maxrss_kb"])
    best_gunzip, best_scan = min(gunzip), min(s["seconds"] for s in scans)
    peak = max(s["maxrss_kb"] for s in scans)
    print(
        f"decompression baseline (gzip -dc | tar -t, all layers): best {best_gunzip:.2f} s "
        f"of {args.repeat} (median {statistics.median(gunzip):.2f} s) = "
        f"{expanded / best_gunzip / 1e6:.0f} MB/s of tar",
        flush=True,
    )
    print(
        f"scan (digests, whiteouts, inventory of {scans[0]['components']} components "
        f"{dict(scans[0]['kinds'])}): best {best_scan:.2f} s "
        f"(median {statistics.median(s['seconds'] for s in scans):.2f} s) = "
        f"{expanded / best_scan / 1e6:.0f} MB/s of tar",
        flush=True,
    )
    print(f"throughput ratio scan/decompression: {best_scan / best_gunzip:.2f}x the time")
    print(
        f"peak RSS of the scan: {peak / 1024:.1f} MB, max of {args.repeat} (an idle child "
        f"with the same imports: {max(idle) / 1024:.1f} MB; image {mb(expanded)} as tar)",
        flush=True,
    )

    components = json.loads(components_file.read_text())
    zip_path = workdir / "osv-all.zip"
    stats = write_advisories(zip_path, components, args.advisories, scans[0]["ecosystem"])
    print(
        f"advisories: {stats['debian']} DEBIAN-CVE records ({stats['about_installed']} about "
        f"installed source packages, {stats['withdrawn']} withdrawn) + {stats['cve']} CVE "
        f"records with CVSS, zip {mb(zip_path.stat().st_size)}",
        flush=True,
    )
    db_url, drop = await fresh_database(args.db, workdir)
    try:
        timing = await time_matching(db_url, zip_path, components, args.repeat)
    finally:
        await drop()
    print(
        f"import into a fresh {args.db} store: {timing['inserted']} records read in "
        f"{timing['read_seconds']:.1f} s, stored in {timing['import_seconds']:.1f} s "
        f"(one transaction)"
    )
    print(
        f"matching {len(components)} components against {timing['stored']} stored records "
        f"({timing['fetched']} fetched by the index, {timing['related']} related, "
        f"{timing['findings']} findings), best of {args.repeat}:"
    )
    print(f"  indexed lookup alone (baseline): {timing['lookup'] * 1000:.0f} ms")
    print(
        f"  full match (lookup + versions + CVSS): {timing['match'] * 1000:.0f} ms "
        f"= {timing['match'] / timing['lookup']:.2f}x the lookup"
    )
    print(f"  version comparisons alone (in memory): {timing['compare'] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=400, help="uncompressed image size")
    parser.add_argument("--copies", type=int, default=4, help="x the machine's dpkg packages")
    parser.add_argument("--advisories", type=int, default=20000, help="DEBIAN-CVE records")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "storemod-bench-scan")
    )
    parser.add_argument("--child-scan", help=argparse.SUPPRESS)
    parser.add_argument("--child-idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        child_scan(args.child_scan, args.out)
        return
    if args.child_idle:
        child_idle()
        return
    if args.size_mb < 1 or args.copies < 1 or args.advisories < 1 or args.repeat < 1:
        parser.error("--size-mb, --copies, --advisories and --repeat must be positive")
    try:
        asyncio.run(bench(args))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""`storemod scan REF`: scan one image and print the report (table, JSON or CycloneDX)."""

from __future__ import annotations

import contextlib
import json
import sys
from enum import StrEnum

from rich.table import Table

from cli.session import Session, fail, out, run
from scanner.image import ImageError
from scanner.interface import BuiltinScanner, ScannerError, ScanResult
from scanner.limits import ScanOptions

__all__ = ["OutputFormat", "scan_command"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CYCLONEDX = "cyclonedx"


def scan_command(ref: str, output: OutputFormat | None, platform: str | None) -> None:
    """Scan ``ref`` against the store's advisories and print the report.

    ``platform`` is "os/arch" or "all" (every platform of an image index).
    """
    chosen = output or (OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSON)

    async def body(session: Session) -> None:
        platforms: list[str | None] = [platform]
        if platform == "all":
            from scanner.registry import list_platforms

            if not ref.startswith("docker://"):
                fail("--platform all needs a docker:// reference")
            try:
                platforms = list(list_platforms(ref, ScanOptions.from_settings(session.settings)))
            except ImageError as err:
                fail(f"cannot scan {ref}: {err}")
            if not platforms:
                platforms = [None]
        results: list[ScanResult] = []
        for wanted in platforms:
            options = ScanOptions.from_settings(session.settings, platform=wanted)
            try:
                results.append(await BuiltinScanner(session.store, options).scan(ref))
            except (ImageError, ScannerError) as err:
                fail(f"cannot scan {ref}: {err}")
        for result in results:
            _print(result, chosen)

    run(body)


def _print(result: ScanResult, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print(json.dumps(result.report(), indent=2, sort_keys=True, default=str))
    elif output is OutputFormat.CYCLONEDX:
        from scanner.cyclonedx import to_cyclonedx

        print(to_cyclonedx(result))
    else:
        _table(result)


def _table(result: ScanResult) -> None:
    platform = f" [{result.platform}]" if result.platform else ""
    out.print(f"{result.ref}{platform}")
    out.print(f"digest {result.digest}  os {result.os or 'unknown'}  by {result.scanner}")
    user = str(result.config.get("config", {}).get("User") or "root")
    out.print(f"{len(result.components)} components in {len(result.layers)} layers; user {user}")
    if not result.findings:
        out.print("no findings")
        return
    table = Table("severity", "score", "CVE", "package", "installed", "fixed", "layer", "advisory")
    for f in result.findings:
        table.add_row(
            str(f.severity),
            f"{f.cvss_score:.1f}" if f.cvss_score is not None else "-",
            f.cve_id,
            f.package,
            f.installed_version,
            f.fixed_version or "-",
            str(f.layer_index),
            f.advisory_id,
        )
    out.print(table)


def serve_command(host: str, port: int) -> None:
    """Run the Harbor adapter API until interrupted."""
    import asyncio

    from scanner.harbor import HarborServer

    async def body(session: Session) -> None:
        options = ScanOptions.from_settings(session.settings)
        try:
            server = HarborServer(
                session.store, options, asyncio.get_running_loop(), host=host, port=port
            )
        except OSError as err:
            fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
        server.start()
        out.print(f"Harbor scanner adapter API on {server.url}/api/v1 (Ctrl-C stops)")
        try:
            await asyncio.Event().wait()
        finally:
            server.close()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
        run(body)

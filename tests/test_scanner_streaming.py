"""Layers are streamed: no read takes a layer whole, and memory stays far below its size.

The layer holds 16 MiB that do not compress (so the blob is as big as its content);
the scan must read it in bounded pieces and never hold more than a few MiB, both
for the compressed blob and for the decompressed tar.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from scanner.inventory import read_inventory
from tests.imagebuild import write_docker_archive, write_oci_layout

FIXTURES = Path(__file__).parent / "fixtures"
BIG = 16 * 1024 * 1024
MEMORY_BOUND = 4 * 1024 * 1024  # what the scan may hold at once, all included
READ_BOUND = 1024 * 1024  # the largest single read of a layer blob


def layers() -> list[Any]:
    return [
        {
            "etc/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes(),
            "opt/blob.bin": random.Random(3).randbytes(BIG),
            "var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes(),
        }
    ]


class CountingFile:
    """A file whose reads are measured."""

    def __init__(self, raw: Any, reads: list[int]) -> None:
        self._raw = raw
        self._reads = reads

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        self._reads.append(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._raw.close()


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_oci_layout(tmp_path_factory.mktemp("big") / "img", layers())


def scan_measured(ref: str) -> tuple[int, int]:
    """(peak traced memory, package count) of a scan of ``ref``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        inventory = read_inventory(ref)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, len(inventory.components)


def test_an_oci_layer_is_read_in_bounded_pieces(oci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(oci[len("oci:") :].rsplit(":", 1)[0])
    layer = max((root / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    assert layer.stat().st_size > BIG
    reads: list[int] = []
    original = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened = original(self, *args, **kwargs)
        return CountingFile(opened, reads) if self == layer else opened

    monkeypatch.setattr(Path, "open", counting_open)
    peak, packages = scan_measured(oci)
    monkeypatch.undo()
    assert packages > 0
    assert sum(reads) == layer.stat().st_size  # read to its end: the digest was checked
    assert max(reads) <= READ_BOUND, f"a single read took {max(reads)} bytes"
    assert peak < MEMORY_BOUND, f"the scan held {peak} bytes at once"


def test_a_docker_archive_layer_is_streamed_too(tmp_path: Path) -> None:
    ref = write_docker_archive(tmp_path / "img.tar", layers())
    peak, packages = scan_measured(ref)
    assert packages > 0
    assert peak < MEMORY_BOUND, f"the scan held {peak} bytes at once"

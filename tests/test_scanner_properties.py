"""Property tests (hypothesis): layers applied in order with whiteouts match a simple model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.inventory import read_inventory
from tests.imagebuild import write_oci_layout

SITE = "usr/lib/python3/site-packages"
NAMES = ["alpha", "beta", "gamma"]

# One layer operation: install NAME at VERSION, delete NAME (whiteout), or empty the
# whole site-packages folder (opaque whiteout).
operation = st.one_of(
    st.tuples(st.just("install"), st.sampled_from(NAMES), st.integers(1, 3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("opaque"), st.just(""), st.just(0)),
)
layers_strategy = st.lists(st.lists(operation, min_size=1, max_size=3), min_size=1, max_size=5)


def metadata(name: str, version: int) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}.0\n".encode()


def build(ops_per_layer: list[list[tuple[str, str, int]]]) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    for ops in ops_per_layer:
        files: dict[str, Any] = {}
        for kind, name, version in ops:
            if kind == "install":
                # The dist-info folder name carries no version: an upgrade rewrites it.
                files[f"{SITE}/{name}.dist-info/METADATA"] = metadata(name, version)
            elif kind == "delete":
                files = {k: v for k, v in files.items() if f"/{name}.dist-info" not in k}
                files[f"{SITE}/{name}.dist-info"] = None
            else:
                files = {f"{SITE}/.wh..wh..opq": b""}
        layers.append(files)
    return layers


def model(layers: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """name -> (version, layer): the version a container sees at the end, and the first
    layer after which that name+version was present without interruption."""
    versions: dict[str, str] = {}
    introduced: dict[str, tuple[str, int]] = {}
    for index, files in enumerate(layers):
        if f"{SITE}/.wh..wh..opq" in files:
            versions = {}
        for path, content in files.items():
            if path.endswith(".dist-info") and content is None:
                versions.pop(path.rsplit("/", 1)[1].removesuffix(".dist-info"), None)
        for path, content in files.items():
            if path.endswith("/METADATA"):
                name = path.split("/")[-2].removesuffix(".dist-info")
                versions[name] = content.decode().split("Version: ")[-1].strip()
        introduced = {
            name: introduced[name] if introduced.get(name, ("", 0))[0] == v else (v, index)
            for name, v in versions.items()
        }
    return introduced


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers_strategy)
def test_inventory_matches_the_layer_model(ops: list[list[tuple[str, str, int]]]) -> None:
    layers = build(ops)
    with tempfile.TemporaryDirectory() as folder:
        ref = write_oci_layout(Path(folder) / "img", layers)
        first = read_inventory(ref)
        again = read_inventory(ref)  # re-reading the same image gives the same answer
    found = {c.name: (c.version, c.layer_index) for c in first.components}
    assert found == model(layers)
    assert [c.purl for c in again.components] == [c.purl for c in first.components]

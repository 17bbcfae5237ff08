"""The plugin compliance suite against real HTTP plugins on loopback ports and unix sockets."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certification.plugin_suite import (
    CASES,
    CONTENT_TYPE,
    PluginEndpointError,
    SuiteResult,
    run_plugin_suite,
)
from tests.plugins.broken_volume import KNOWN_FAILURES, BrokenVolumePlugin
from tests.plugins.reference_volume import Answer, ReferenceVolumePlugin
from tests.plugins.server import PluginServer

ALL_CASES = [case for case in CASES if case != "suite.time-limit"]


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[PluginServer]:
    with PluginServer(ReferenceVolumePlugin(tmp_path / "volumes")) as server:
        yield server


async def test_the_reference_plugin_passes_every_case(reference: PluginServer) -> None:
    result = await run_plugin_suite(reference.url)
    assert result.failed == [], [(c.id, c.detail) for c in result.cases if not c.passed]
    assert result.passed
    assert sorted(c.id for c in result.cases) == sorted(ALL_CASES)
    assert result.implements == ["VolumeDriver", "NetworkDriver"]
    mounted = result.case("volume.mount").detail
    assert mounted.startswith("mounted at /")
    # The volume really was created, mounted and removed again.
    plugin = reference.plugin
    assert isinstance(plugin, ReferenceVolumePlugin)
    assert plugin.volumes == {}
    assert not Path(mounted.removeprefix("mounted at ")).exists()


async def test_the_suite_speaks_the_docker_plugin_protocol(reference: PluginServer) -> None:
    await run_plugin_suite(reference.url)
    methods = {method for method, _path, _headers, _body in reference.requests}
    assert methods == {"POST"}
    for _method, _path, headers, _body in reference.requests:
        assert headers["Content-Type"] == CONTENT_TYPE
        assert headers["Accept"] == CONTENT_TYPE
    first = reference.requests[0]
    assert first[1] == "/Plugin.Activate" and first[3] == b""
    paths = [path for _m, path, _h, _b in reference.requests]
    for call in ("Create", "Remove", "Mount", "Path", "Unmount", "Get", "List", "Capabilities"):
        assert f"/VolumeDriver.{call}" in paths
    assert "/NetworkDriver.GetCapabilities" in paths
    creates = [json.loads(b) for _m, p, _h, b in reference.requests[:8] if p.endswith(".Create")]
    assert creates[0]["Name"].startswith("storemod-cert-") and creates[0]["Opts"] == {}


async def test_the_broken_plugin_fails_exactly_its_known_cases(tmp_path: Path) -> None:
    with PluginServer(BrokenVolumePlugin(tmp_path)) as server:
        result = await run_plugin_suite(server.url)
    assert set(result.failed) == KNOWN_FAILURES, [(c.id, c.detail) for c in result.cases]
    assert sorted(c.id for c in result.cases) == sorted(ALL_CASES)
    assert not result.passed
    details = {c.id: c.detail for c in result.cases}
    assert details["activate.content-type"].startswith(
        "/Plugin.Activate answered with text/plain; charset=utf-8 content type"
    )
    assert "Scope must be local or global" in details["volume.capabilities"]
    assert "must be an absolute path" in details["volume.path"]
    assert details["volume.malformed-json"].startswith(
        "Create with invalid JSON: gave no Err, so the engine cannot tell the user"
    )
    assert "answered as if it succeeded (no Err)" in details["volume.create.missing-name"]
    assert "answered as if it succeeded (no Err)" in details["volume.get.unknown"]
    assert (
        details["network.capabilities"]
        == "GetCapabilities: Scope must be local or global, got HTTP 200 {}"
    )


async def test_unix_socket_endpoints(tmp_path: Path) -> None:
    # AF_UNIX paths are limited to about 107 bytes: pytest's tmp_path may be longer.
    with tempfile.TemporaryDirectory(prefix="plug", dir="/tmp") as folder:
        socket_path = Path(folder) / "reference.sock"
        with PluginServer(ReferenceVolumePlugin(tmp_path), socket_path=socket_path) as server:
            assert server.url == f"unix://{socket_path}"
            result = await run_plugin_suite(server.url)
    assert result.passed, result.failed


async def test_tcp_endpoints_as_docker_spec_files_write_them(reference: PluginServer) -> None:
    result = await run_plugin_suite(reference.url.replace("http://", "tcp://"))
    assert result.passed


class Redirector:
    """Sends every call elsewhere, as a hostile or misconfigured endpoint might."""

    def __init__(self, target: str) -> None:
        self.target = target

    def handle(self, path: str, body: bytes) -> tuple[int, str, bytes, dict[str, str]]:
        return 307, "text/plain", b"", {"Location": self.target + path}


async def test_redirects_are_never_followed(reference: PluginServer) -> None:
    with PluginServer(Redirector(reference.url)) as redirector:
        result = await run_plugin_suite(redirector.url)
    assert [c.id for c in result.cases] == ["activate"]
    assert result.failed == ["activate"]
    assert result.cases[0].detail == (
        f"POST /Plugin.Activate: answered 307 redirecting to {reference.url}/Plugin.Activate; "
        "plugins must answer directly and redirects are not followed"
    )
    assert reference.requests == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_nothing_listening_fails_activation_clearly() -> None:
    result = await run_plugin_suite(f"http://127.0.0.1:{closed_port()}", timeout=2)
    assert result.failed == ["activate"]
    assert result.cases[0].detail.startswith("POST /Plugin.Activate: cannot connect to the plugin")


class Slow(ReferenceVolumePlugin):
    def __init__(self, root: Path, slow_method: str, delay: float) -> None:
        super().__init__(root)
        self.slow_method, self.delay = slow_method, delay

    def handle(self, path: str, body: bytes) -> Answer:
        if path == "/" + self.slow_method:
            time.sleep(self.delay)
        return super().handle(path, body)


async def test_each_call_has_a_timeout(tmp_path: Path) -> None:
    with PluginServer(Slow(tmp_path, "Plugin.Activate", 1.0)) as server:
        started = time.monotonic()
        result = await run_plugin_suite(server.url, timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert result.failed == ["activate"]
    assert result.cases[0].detail == "POST /Plugin.Activate: no answer within 0.2 s"


async def test_the_whole_suite_has_a_time_limit(tmp_path: Path) -> None:
    with PluginServer(Slow(tmp_path, "VolumeDriver.List", 0.6)) as server:
        result = await run_plugin_suite(server.url, timeout=5, total_timeout=0.4)
    ids = [c.id for c in result.cases]
    assert ids[-1] == "suite.time-limit" and "volume.create" in ids and "volume.list" not in ids
    assert "suite.time-limit" in result.failed
    assert not result.passed


class Chatty(ReferenceVolumePlugin):
    def activate(self) -> Answer:
        return self.reply({"Implements": ["VolumeDriver"], "Padding": "x" * 5000})


async def test_answers_are_read_up_to_a_limit(tmp_path: Path) -> None:
    with PluginServer(Chatty(tmp_path)) as server:
        result = await run_plugin_suite(server.url, max_response_bytes=1000)
    assert result.failed == ["activate"]
    assert result.cases[0].detail == "POST /Plugin.Activate: answered with more than 1000 bytes"


class Declares(ReferenceVolumePlugin):
    def __init__(self, root: Path, implements: object) -> None:
        super().__init__(root)
        self.declared = implements

    def activate(self) -> Answer:
        return self.reply({"Implements": self.declared})


async def test_interfaces_the_suite_cannot_test_fail_certification(tmp_path: Path) -> None:
    with PluginServer(Declares(tmp_path, ["VolumeDriver", "LogDriver"])) as server:
        result = await run_plugin_suite(server.url)
    assert result.failed == ["activate.interfaces"]
    assert result.case("activate.interfaces").detail == (
        "the suite cannot test LogDriver; it certifies VolumeDriver and NetworkDriver"
    )
    assert not any(c.id.startswith("network.") for c in result.cases)


@pytest.mark.parametrize("implements", [[], "VolumeDriver", [""], None])
async def test_activation_must_declare_interfaces(tmp_path: Path, implements: object) -> None:
    with PluginServer(Declares(tmp_path, implements)) as server:
        result = await run_plugin_suite(server.url)
    assert result.failed == ["activate"]
    assert "Implements must be a non-empty list of interface names" in result.cases[0].detail


class DiesOnBadJSON(ReferenceVolumePlugin):
    """Stops answering properly once it has seen invalid JSON, as a crashed plugin would."""

    dead = False

    def invalid_json(self, method: str, exc: Exception) -> Answer:
        self.dead = True
        return super().invalid_json(method, exc)

    def activate(self) -> Answer:
        return (503, "text/plain", b"down") if self.dead else super().activate()


async def test_a_plugin_must_survive_malformed_requests(tmp_path: Path) -> None:
    with PluginServer(DiesOnBadJSON(tmp_path)) as server:
        result = await run_plugin_suite(server.url)
    assert "plugin.alive" in result.failed
    assert result.case("plugin.alive").detail.startswith(
        "expected HTTP 200 without Err, got HTTP 503"
    )


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("", "the plugin endpoint is empty"),
        ("ftp://127.0.0.1:21", "must be http://HOST:PORT"),
        ("unix://run/plugin.sock", "a unix socket address must be absolute"),
        ("http://127.0.0.1:99999", "not a valid address"),
        ("http://127.0.0.1:9000/?debug=1", "may not carry a query"),
        ("127.0.0.1:9000", "must be http://HOST:PORT"),
    ],
)
async def test_unusable_endpoints_are_refused(endpoint: str, message: str) -> None:
    with pytest.raises(PluginEndpointError, match=message):
        await run_plugin_suite(endpoint)


async def test_results_serialise_to_json_and_back(tmp_path: Path) -> None:
    with PluginServer(BrokenVolumePlugin(tmp_path)) as server:
        result = await run_plugin_suite(server.url)
    data = json.loads(result.to_json())
    assert set(data["failed"]) == KNOWN_FAILURES
    again = SuiteResult.from_dict(data)
    assert again == result

"""API compliance suite for a Docker plugin's HTTP endpoint (issue 6, Certified Plugin).

Docker's plugin protocol (docs.docker.com/engine/extend/plugin_api/) is
RPC-style JSON over HTTP: every call is a ``POST /Interface.Method`` carrying
``application/vnd.docker.plugins.v1.2+json`` (the engine's content type, moby
``pkg/plugins/transport``). ``/Plugin.Activate`` answers ``{"Implements": [...]}``;
the suite then runs the cases of each declared interface:

- ``VolumeDriver`` (plugins_volume): Capabilities, then the life of a fresh
  volume, Create, List, Get, Mount, Path, Unmount, Remove (and that it is gone),
  then malformed requests: invalid JSON, Create without ``Name``, Get and Mount
  of an unknown volume. Each must answer with ``Err`` set, which is how the
  engine reports an error to the user.
- ``NetworkDriver`` (plugins_network): GetCapabilities (``Scope``), and invalid
  JSON to CreateNetwork.

Finally the plugin must still answer ``/Plugin.Activate``: malformed requests may
not bring it down. Certification is stricter than the engine where the engine
merely copes: a missing or invalid volume ``Scope`` fails here.

Every call has a timeout, answers are read up to a size limit, and redirects
are never followed (a plugin answers directly; following one could lead the
suite to another host).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "CASES",
    "CONTENT_TYPE",
    "CaseResult",
    "PluginEndpointError",
    "SuiteResult",
    "run_plugin_suite",
]

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
TESTED_INTERFACES = ("VolumeDriver", "NetworkDriver")
MAX_RESPONSE_BYTES = 1024 * 1024

# id -> what the case checks. Stable ids: results are stored and shown by id.
CASES: dict[str, str] = {
    "activate": "POST /Plugin.Activate answers 200 with a non-empty Implements list",
    "activate.content-type": "answers carry a Docker plugin JSON content type",
    "activate.interfaces": "every declared interface is one the suite can certify",
    "volume.capabilities": "VolumeDriver.Capabilities gives a Scope of local or global",
    "volume.create": "VolumeDriver.Create of a new volume succeeds",
    "volume.list": "VolumeDriver.List includes the new volume",
    "volume.get": "VolumeDriver.Get returns the new volume by name",
    "volume.mount": "VolumeDriver.Mount returns an absolute Mountpoint",
    "volume.path": "VolumeDriver.Path returns the mounted volume's Mountpoint",
    "volume.unmount": "VolumeDriver.Unmount succeeds",
    "volume.remove": "VolumeDriver.Remove succeeds and the volume is gone from Get and List",
    "volume.malformed-json": "VolumeDriver.Create with invalid JSON answers with Err set",
    "volume.create.missing-name": "VolumeDriver.Create without Name answers with Err set",
    "volume.get.unknown": "VolumeDriver.Get of an unknown volume answers with Err set",
    "volume.mount.unknown": "VolumeDriver.Mount of an unknown volume answers with Err set",
    "network.capabilities": "NetworkDriver.GetCapabilities gives a Scope of local or global",
    "network.malformed-json": "NetworkDriver.CreateNetwork with invalid JSON answers with Err set",
    "plugin.alive": "the plugin still answers /Plugin.Activate after the malformed requests",
    "suite.time-limit": "the whole suite finishes within its time limit",
}

_SCOPES = ("local", "global")


class PluginEndpointError(ValueError):
    """The plugin endpoint cannot be used; the message is one line for the publisher."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class CaseResult:
    id: str
    passed: bool
    detail: str  # what was sent and what came back, in one line


@dataclass
class SuiteResult:
    """Every case run against one endpoint; ``failed`` lists the failed case ids."""

    endpoint: str
    implements: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cases = [c if isinstance(c, CaseResult) else CaseResult(**c) for c in self.cases]
        self.refresh()

    def refresh(self) -> None:
        self.failed = [c.id for c in self.cases if not c.passed]

    @property
    def passed(self) -> bool:
        return bool(self.cases) and not self.failed

    def case(self, case_id: str) -> CaseResult:
        """The result of case ``case_id``; KeyError if it was not run."""
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteResult:
        return cls(
            endpoint=data["endpoint"],
            implements=list(data.get("implements") or []),
            cases=[CaseResult(**c) for c in data.get("cases") or []],
        )


@dataclass
class _Reply:
    status: int = 0
    content_type: str = ""
    body: bytes = b""
    data: Any = None  # the parsed JSON, when the body is JSON
    problem: str | None = None  # no usable answer: timeout, refused, redirect, too large

    def err(self) -> str:
        """The Err field of a JSON object answer, "" when absent or empty."""
        if isinstance(self.data, dict) and isinstance(self.data.get("Err"), str):
            return str(self.data["Err"]).strip()
        return ""

    def summary(self) -> str:
        if self.problem:
            return self.problem
        if self.data is None:
            if not self.body.strip():
                return f"HTTP {self.status} with an empty body"
            text = self.body[:120].decode("utf-8", "replace").strip()
            return f"HTTP {self.status} with a body that is not JSON: {text!r}"
        return f"HTTP {self.status} {json.dumps(self.data)[:200]}"


def _parse_endpoint(endpoint: str) -> tuple[str, str | None]:
    """(base URL, unix socket path or None) for a plugin address as Docker writes it."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise PluginEndpointError("the plugin endpoint is empty")
    endpoint = endpoint.strip()
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
        if not path.startswith("/"):
            raise PluginEndpointError(
                f"{endpoint}: a unix socket address must be absolute, e.g. unix:///run/x.sock"
            )
        return "http://plugin", path
    if endpoint.startswith("tcp://"):
        endpoint = "http://" + endpoint[len("tcp://") :]
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise PluginEndpointError(f"{endpoint}: not a valid address ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginEndpointError(
            f"{endpoint}: the plugin endpoint must be http://HOST:PORT, https://…, "
            "tcp://HOST:PORT or unix:///PATH"
        )
    if parts.query or parts.fragment:
        raise PluginEndpointError(f"{endpoint}: the endpoint may not carry a query or fragment")
    return endpoint.rstrip("/"), None


class _Client:
    def __init__(self, client: httpx.AsyncClient, base: str, timeout: float, limit: int) -> None:
        self._client = client
        self._base = base
        self._timeout = timeout
        self._limit = limit
        self.content_types: list[tuple[str, str]] = []  # (method, content type) of answers

    async def call(self, method: str, body: bytes | dict[str, Any] | None) -> _Reply:
        content = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        url = f"{self._base}/{method}"
        reply = _Reply()
        try:
            async with self._client.stream(
                "POST",
                url,
                content=content,
                headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
            ) as response:
                reply.status = response.status_code
                reply.content_type = response.headers.get("content-type", "")
                if response.is_redirect:
                    where = response.headers.get("location", "?")
                    reply.problem = (
                        f"answered {response.status_code} redirecting to {where}; plugins must "
                        "answer directly and redirects are not followed"
                    )
                    return reply
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._limit:
                        reply.problem = f"answered with more than {self._limit} bytes"
                        return reply
                    chunks.append(chunk)
                reply.body = b"".join(chunks)
        except httpx.TimeoutException:
            reply.problem = f"no answer within {self._timeout:g} s"
            return reply
        except httpx.ConnectError as exc:
            reply.problem = f"cannot connect to the plugin: {_one_line(exc)}"
            return reply
        except httpx.HTTPError as exc:
            reply.problem = f"the HTTP exchange failed: {_one_line(exc)}"
            return reply
        self.content_types.append((method, reply.content_type))
        # An empty body is not JSON to the engine either: its decoder fails on it.
        try:
            reply.data = json.loads(reply.body)
        except (UnicodeDecodeError, ValueError):
            reply.data = None
        return reply


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _ok(reply: _Reply) -> str | None:
    """None when ``reply`` is a success answer, else what is wrong with it."""
    if reply.problem:
        return reply.problem
    if reply.status != 200:
        return f"expected HTTP 200 without Err, got {reply.summary()}"
    if not isinstance(reply.data, dict):
        return f"expected a JSON object, got {reply.summary()}"
    if reply.err():
        return f"answered with Err {reply.err()!r}"
    return None


def _error_case(case_id: str, reply: _Reply, sent: str) -> CaseResult:
    """An error answer is right when it is a JSON object with Err set, whatever its status."""
    if reply.problem:
        return CaseResult(case_id, False, f"{sent}: {reply.problem}")
    if reply.err():
        return CaseResult(case_id, True, f"{sent}: HTTP {reply.status}, Err {reply.err()!r}")
    if reply.status == 200:
        why = "answered as if it succeeded (no Err)"
    else:
        why = "gave no Err, so the engine cannot tell the user what went wrong"
    return CaseResult(case_id, False, f"{sent}: {why}: {reply.summary()}")


def _is_plugin_content_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/vnd.docker.plugins.v1") and media.endswith("+json")
    )


async def run_plugin_suite(
    endpoint: str,
    *,
    timeout: float = 5.0,
    total_timeout: float = 60.0,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> SuiteResult:
    """Run the compliance cases against the plugin at ``endpoint``.

    ``endpoint`` is ``http(s)://HOST:PORT[/PREFIX]``, ``tcp://HOST:PORT`` or
    ``unix:///PATH`` (raises ``PluginEndpointError`` for anything else).
    ``timeout`` bounds each call, ``total_timeout`` the whole suite. A plugin
    that cannot be reached fails the ``activate`` case; the suite never raises
    for what the plugin does.
    """
    base, socket_path = _parse_endpoint(endpoint)
    if timeout <= 0 or total_timeout <= 0:
        raise PluginEndpointError("timeouts must be positive")
    result = SuiteResult(endpoint=endpoint)
    transport = httpx.AsyncHTTPTransport(uds=socket_path) if socket_path else None
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment must not sit between suite and plugin
    ) as http:
        client = _Client(http, base, timeout, max_response_bytes)
        try:
            async with asyncio.timeout(total_timeout):
                await _run(client, result)
        except TimeoutError:
            result.cases.append(
                CaseResult(
                    "suite.time-limit",
                    False,
                    f"the suite did not finish within {total_timeout:g} s; "
                    "the cases after the last one shown did not run",
                )
            )
    result.refresh()
    return result


async def _run(client: _Client, result: SuiteResult) -> None:
    cases = result.cases
    reply = await client.call("Plugin.Activate", None)
    problem = _ok(reply)
    implements = reply.data.get("Implements") if isinstance(reply.data, dict) else None
    if problem is None and (
        not isinstance(implements, list)
        or not implements
        or not all(isinstance(i, str) and i for i in implements)
    ):
        problem = f"Implements must be a non-empty list of interface names, got {reply.summary()}"
    if problem is not None:
        cases.append(CaseResult("activate", False, f"POST /Plugin.Activate: {problem}"))
        return
    assert isinstance(implements, list)
    result.implements = [str(i) for i in implements]
    cases.append(CaseResult("activate", True, f"implements {', '.join(result.implements)}"))
    unknown = [i for i in result.implements if i not in TESTED_INTERFACES]
    cases.append(
        CaseResult(
            "activate.interfaces",
            not unknown,
            f"the suite cannot test {', '.join(unknown)}; it certifies "
            f"{' and '.join(TESTED_INTERFACES)}"
            if unknown
            else "every declared interface is tested",
        )
    )
    if "VolumeDriver" in result.implements:
        await _volume_cases(client, cases)
    if "NetworkDriver" in result.implements:
        await _network_cases(client, cases)
    alive = await client.call("Plugin.Activate", None)
    problem = _ok(alive)
    cases.append(
        CaseResult(
            "plugin.alive",
            problem is None,
            "still answers after the malformed requests" if problem is None else problem,
        )
    )
    wrong = [(m, ct) for m, ct in client.content_types if not _is_plugin_content_type(ct)]
    cases.insert(
        2,
        CaseResult(
            "activate.content-type",
            not wrong,
            "; ".join(f"/{m} answered with {ct or 'no'} content type" for m, ct in wrong[:3])
            + f" (expected {CONTENT_TYPE})"
            if wrong
            else "every answer is Docker plugin JSON",
        ),
    )


async def _volume_cases(client: _Client, cases: list[CaseResult]) -> None:
    def add(case_id: str, problem: str | None, good: str) -> bool:
        cases.append(CaseResult(case_id, problem is None, good if problem is None else problem))
        return problem is None

    reply = await client.call("VolumeDriver.Capabilities", {})
    problem = _ok(reply)
    if problem is None:
        capabilities = reply.data.get("Capabilities")
        scope = capabilities.get("Scope") if isinstance(capabilities, dict) else None
        if not isinstance(scope, str) or scope.lower() not in _SCOPES:
            problem = (
                f"Capabilities.Scope must be local or global, got {reply.summary()} "
                "(the engine would fall back to local)"
            )
    add("volume.capabilities", problem, f"scope {_scope(reply)}")

    name = f"storemod-cert-{uuid.uuid4().hex[:12]}"
    mount_id = uuid.uuid4().hex + uuid.uuid4().hex  # the engine sends a 64-hex container id
    created = add(
        "volume.create",
        _prefixed(
            "Create", _ok(await client.call("VolumeDriver.Create", {"Name": name, "Opts": {}}))
        ),
        f"created {name}",
    )

    reply = await client.call("VolumeDriver.List", {})
    problem = _ok(reply)
    if problem is None:
        volumes = reply.data.get("Volumes")
        names = (
            [v.get("Name") for v in volumes if isinstance(v, dict)]
            if isinstance(volumes, list)
            else None
        )
        if names is None:
            problem = f"Volumes must be a list of {{Name, Mountpoint}}, got {reply.summary()}"
        elif created and name not in names:
            problem = f"the list does not include {name}, created just before: {reply.summary()}"
    add("volume.list", _prefixed("List", problem), f"lists {name}")

    reply = await client.call("VolumeDriver.Get", {"Name": name})
    problem = _ok(reply)
    if problem is None:
        volume = reply.data.get("Volume")
        if not isinstance(volume, dict) or volume.get("Name") != name:
            problem = f"Volume.Name must be {name}, got {reply.summary()}"
    add("volume.get", _prefixed("Get", problem), f"returns {name}")

    reply = await client.call("VolumeDriver.Mount", {"Name": name, "ID": mount_id})
    problem = _ok(reply)
    mountpoint = reply.data.get("Mountpoint") if isinstance(reply.data, dict) else None
    if problem is None and (not isinstance(mountpoint, str) or not mountpoint.startswith("/")):
        problem = f"Mountpoint must be an absolute path, got {reply.summary()}"
    mounted = add("volume.mount", _prefixed("Mount", problem), f"mounted at {mountpoint}")

    reply = await client.call("VolumeDriver.Path", {"Name": name})
    problem = _ok(reply)
    path = reply.data.get("Mountpoint") if isinstance(reply.data, dict) else None
    if problem is None and (not isinstance(path, str) or not path.startswith("/")):
        problem = f"Mountpoint of a mounted volume must be an absolute path, got {reply.summary()}"
    elif problem is None and mounted and path != mountpoint:
        problem = f"Path says {path} but Mount said {mountpoint}"
    add("volume.path", _prefixed("Path", problem), f"path {path}")

    reply = await client.call("VolumeDriver.Unmount", {"Name": name, "ID": mount_id})
    add("volume.unmount", _prefixed("Unmount", _ok(reply)), f"unmounted {name}")

    problem = _ok(await client.call("VolumeDriver.Remove", {"Name": name}))
    if problem is None:
        after = await client.call("VolumeDriver.Get", {"Name": name})
        listed = await client.call("VolumeDriver.List", {})
        volumes = listed.data.get("Volumes") if isinstance(listed.data, dict) else None
        still_listed = isinstance(volumes, list) and any(
            isinstance(v, dict) and v.get("Name") == name for v in volumes
        )
        if not after.err():
            problem = f"Get of the removed volume still succeeds: {after.summary()}"
        elif still_listed:
            problem = "List still includes the removed volume"
    add("volume.remove", _prefixed("Remove", problem), f"removed {name}; Get now answers Err")

    unknown = f"storemod-cert-missing-{uuid.uuid4().hex[:12]}"
    cases.append(
        _error_case(
            "volume.malformed-json",
            await client.call("VolumeDriver.Create", b'{"Name": "broken",'),
            "Create with invalid JSON",
        )
    )
    cases.append(
        _error_case(
            "volume.create.missing-name",
            await client.call("VolumeDriver.Create", {"Opts": {}}),
            "Create without Name",
        )
    )
    cases.append(
        _error_case(
            "volume.get.unknown",
            await client.call("VolumeDriver.Get", {"Name": unknown}),
            f"Get of unknown volume {unknown}",
        )
    )
    cases.append(
        _error_case(
            "volume.mount.unknown",
            await client.call("VolumeDriver.Mount", {"Name": unknown, "ID": mount_id}),
            f"Mount of unknown volume {unknown}",
        )
    )


def _scope(reply: _Reply) -> str:
    data = reply.data if isinstance(reply.data, dict) else {}
    capabilities = data.get("Capabilities")
    return str(capabilities.get("Scope")) if isinstance(capabilities, dict) else "?"


def _prefixed(call: str, problem: str | None) -> str | None:
    return None if problem is None else f"{call}: {problem}"


async def _network_cases(client: _Client, cases: list[CaseResult]) -> None:
    reply = await client.call("NetworkDriver.GetCapabilities", {})
    problem = _ok(reply)
    if problem is None:
        scope = reply.data.get("Scope")
        connectivity = reply.data.get("ConnectivityScope")
        if not isinstance(scope, str) or scope.lower() not in _SCOPES:
            problem = f"Scope must be local or global, got {reply.summary()}"
        elif connectivity not in (None, "", *_SCOPES):
            problem = f"ConnectivityScope must be local or global, got {reply.summary()}"
    cases.append(
        CaseResult(
            "network.capabilities",
            problem is None,
            f"scope {reply.data.get('Scope')}"
            if problem is None
            else f"GetCapabilities: {problem}",
        )
    )
    cases.append(
        _error_case(
            "network.malformed-json",
            await client.call("NetworkDriver.CreateNetwork", b'{"NetworkID": '),
            "CreateNetwork with invalid JSON",
        )
    )

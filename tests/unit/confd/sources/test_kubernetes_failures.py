"""KubernetesSource's failure reporting: a changed cause is logged again, a repeat is not."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bgpd.confd.sources.kube_config import KubeSettings
from bgpd.confd.sources.kube_objects import node_kind
from bgpd.confd.sources.kubernetes import KubernetesSource, _HttpError, _KindState


def failing(caplog: pytest.LogCaptureFixture, errors: list[BaseException]) -> list[str]:
    async def run() -> list[str]:
        source = KubernetesSource(KubeSettings(server="http://127.0.0.1:1"))
        state = _KindState(kind=node_kind(use_pod_cidr=False), objects={})
        for exc in errors:
            source._kind_failed(state, exc)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    with caplog.at_level(logging.DEBUG, logger="bgpd.confd.sources.kubernetes"):
        return asyncio.run(run())


def test_an_outage_turning_into_a_401_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    cut = aiohttp.ClientPayloadError("Response payload is not completed")
    lines = failing(caplog, [cut, cut, _HttpError(401, "Unauthorized"), _HttpError(401, "x")])
    assert len(lines) == 2, lines
    assert "ClientPayloadError" in lines[0]
    assert "HTTP 401: Unauthorized" in lines[1] and "kind=nodes" in lines[1]
    # Named for its cause, not as a network problem.
    assert lines[0].startswith("confd.kubernetes.request_failed ")
    assert lines[1].startswith("confd.kubernetes.unauthorized ")


def test_a_403_is_logged_as_forbidden(caplog: pytest.LogCaptureFixture) -> None:
    (line,) = failing(caplog, [_HttpError(403, "bgppeers is forbidden")])
    assert line.startswith("confd.kubernetes.forbidden ") and "kind=nodes" in line


def test_a_repeated_failure_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    forbidden = [_HttpError(403, f"forbidden {i}") for i in range(3)]
    assert len(failing(caplog, forbidden)) == 1

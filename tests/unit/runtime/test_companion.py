"""`bgpd run --confd-backend ...`: the speaker with its confd companion, on loopback-free config.

The companion's end is fatal and visible (issue 11): the speaker stops cleanly and bgpd exits
non-zero, so the supervisor restarts it rather than leaving a speaker whose config no longer
follows the datastore. The speaker here has no peers and no listening socket, only its control
socket in the test's temp dir."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bgpd.runtime.daemon import run_daemon_with


class Companion:
    """A companion that writes a config, then fails (or ends) once the speaker runs."""

    def __init__(self, config: Path, socket: Path, failure: BaseException | None) -> None:
        self.config, self.socket, self.failure = config, socket, failure
        self.closed = False
        self.reload: Callable[[], bool] | None = None

    async def prepare(self) -> None:
        self.config.write_text(
            f'[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n\n'
            f'[control]\nsocket = "{self.socket}"\n\n[kernel]\nenabled = false\n'
        )

    async def run(self, reload: Callable[[], bool]) -> None:
        self.reload = reload
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not self.socket.exists():  # the speaker is up once its control socket is
            assert loop.time() < deadline, "the speaker did not start"
            await asyncio.sleep(0.01)
        assert reload() is True
        if self.failure is not None:
            raise self.failure

    async def close(self) -> None:
        self.closed = True

    def metrics_status(self) -> tuple[int, int, int, tuple[tuple[str, bool], ...]]:
        return 1, 0, 0, ()

    def unsupported_fields(self) -> tuple[tuple[str, str, int], ...]:
        return ()


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (RuntimeError("the watcher broke \ud800"), "RuntimeError: the watcher broke"),
        (None, "ended"),
    ],
)
def test_the_companions_end_stops_the_speaker_with_a_non_zero_exit(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    failure: BaseException | None,
    reason: str,
) -> None:
    companion = Companion(tmp_path / "bgpd.toml", tmp_path / "bgpd.ctl", failure)
    with caplog.at_level(logging.INFO):
        code = run_daemon_with(str(companion.config), None, companion)
    assert code == 1
    assert companion.reload is not None and companion.closed
    (stopped,) = [r for r in caplog.records if "confd watcher stopped" in r.getMessage()]
    assert stopped.levelno == logging.ERROR and reason in stopped.getMessage()
    stopped.getMessage().encode()  # a lone surrogate in the error is escaped
    assert any("bgpd stopped" in r.getMessage() for r in caplog.records)  # a clean shutdown
    assert not (tmp_path / "bgpd.ctl").exists()


def test_bgpd_run_exits_1_when_its_real_in_process_watcher_dies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The confd companion itself (InProcessWatcher): its source breaks once the speaker runs."""
    from bgpd.confd.command import ConfdSetup, InProcessWatcher
    from bgpd.confd.render_pass import Renderer, load_resources
    from bgpd.confd.sources.base import KvSnapshot
    from bgpd.confd.template_inputs import TemplateContext
    from bgpd.confd.watcher import Watcher
    from tests.unit.confd.render.calico_data import globals_, host
    from tests.unit.confd.render.test_watcher import CONFDIR, FakeSource

    socket = tmp_path / "bgpd.ctl"

    class BreakingSource(FakeSource):
        async def snapshots(self) -> AsyncIterator[KvSnapshot]:
            yield KvSnapshot(revision=1, values={**globals_(), **host("a", "10.0.0.1")})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not socket.exists():  # the speaker runs on the first render
                assert loop.time() < deadline, "the speaker did not start"
                await asyncio.sleep(0.01)
            raise RuntimeError("the datastore stream broke")

    config = tmp_path / "bgpd.toml"
    resources = [replace(r, dest=config) for r in load_resources(CONFDIR, "a")]
    variables = {"kernel": "false", "control_socket": str(socket), "bird_socket": ""}
    variables["bird6_socket"] = ""
    ctx = TemplateContext(nodename="a", variables=variables)
    watcher = Watcher(BreakingSource(), Renderer(CONFDIR, resources, ctx), dict)
    companion = InProcessWatcher(ConfdSetup(watcher=watcher, resources=tuple(resources)))
    with caplog.at_level(logging.INFO):
        code = run_daemon_with(str(config), None, companion)
    assert code == 1
    (stopped,) = [r for r in caplog.records if "confd watcher stopped" in r.getMessage()]
    assert "RuntimeError: the datastore stream broke" in stopped.getMessage()
    assert any("bgpd stopped" in r.getMessage() for r in caplog.records)
    assert config.exists()  # the last good config stays for the restarted bgpd

"""The render loop: first read, debounce, failure accounting, reload only on change."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.model import CalicoDataError
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.sources.base import KvSnapshot, SourceStatus
from bgpd.confd.template_inputs import DataError, TemplateContext
from bgpd.confd.watcher import ReloadError, Watcher, describe_error
from bgpd.config import load_config
from bgpd.errors import ConfigError, ConfigProblem

from .calico_data import V1, globals_, host, peer_key
from .calico_v3 import V3, bgp_configuration, node

CONFDIR = DEFAULT_CONFDIR


class FakeSource:
    """Snapshots pushed by the test, in order; `snapshots()` ends on close."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[KvSnapshot | None] = asyncio.Queue()
        self.revision = 0

    def push(self, values: Mapping[str, str]) -> None:
        self.revision += 1
        self.queue.put_nowait(KvSnapshot(revision=self.revision, values=values))

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        while (item := await self.queue.get()) is not None:
            yield item

    def status(self) -> SourceStatus:
        return SourceStatus(connected=True, last_error=None, revision=self.revision, full_reads=1)

    async def close(self) -> None:
        self.queue.put_nowait(None)


def view(asn: int = 64512, **hosts: str) -> dict[str, str]:
    out = globals_(asn=asn)
    out.update(host("a", "10.0.0.1"))
    for name, ip in hosts.items():
        out.update(host(name, ip))
    return out


def derive(values: Mapping[str, str]) -> Mapping[str, str]:
    if values.get("poison"):
        raise DataError("/calico/resources/v3/projectcalico.org/bgppeers/bad", "bad peer IP")
    if values.get("bug"):
        raise ZeroDivisionError("division by zero")  # a stand-in for a bug in the model
    return values


def make(
    tmp_path: Path,
    source: FakeSource,
    reloads: list[int],
    derive_view: Callable[[Mapping[str, str]], Mapping[str, str]] = derive,
    **kw: float,
) -> Watcher:
    resources = load_resources(CONFDIR, "a", dest_root=tmp_path)
    ctx = TemplateContext(nodename="a", variables={"kernel": "false"})
    return Watcher(
        source,
        Renderer(CONFDIR, resources, ctx),
        derive_view,
        reload=lambda: reloads.append(1),
        **kw,
    )


async def until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def dest(tmp_path: Path) -> Path:
    return tmp_path / "etc/bgpd/bgpd.toml"


def test_nothing_before_first_read_then_render_and_reload(tmp_path: Path) -> None:
    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(tmp_path, source, reloads)
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0)  # let the loop start: still no snapshot
        assert w.status().renders_total == 0 and not dest(tmp_path).exists()
        source.push(view())
        await w.wait_ready()
        assert load_config(dest(tmp_path)).bgp.asn == 64512
        assert reloads == [1]
        status = w.status()
        assert (status.renders_total, status.installs_total, status.reloads_total) == (1, 1, 1)
        assert status.last_success is not None and status.source.connected
        task.cancel()
        await w.close()

    asyncio.run(main())


def test_burst_is_debounced_into_one_render_of_the_newest(tmp_path: Path) -> None:
    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(tmp_path, source, reloads, quiet_s=0.2, max_delay_s=5.0)
        task = asyncio.create_task(w.run())
        source.push(view())
        await until(lambda: w.status().renders_total == 1)
        for asn in range(65001, 65011):  # ten changes in one burst
            source.push(view(asn=asn))
        await until(lambda: w.status().reloads_total == 2)
        assert w.status().renders_total == 2  # the burst rendered once
        assert w.status().revision == 11  # ... from the newest snapshot
        assert load_config(dest(tmp_path)).bgp.asn == 65010
        assert len(reloads) == 2
        task.cancel()

    asyncio.run(main())


def test_unchanged_render_does_not_reload(tmp_path: Path) -> None:
    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(tmp_path, source, reloads, quiet_s=0.01)
        task = asyncio.create_task(w.run())
        source.push(view())
        await until(lambda: w.status().renders_total == 1)
        # A key no template reads changes: a new snapshot, the same file, no reload.
        source.push({**view(), "/calico/felix/v1/whatever": "x"})
        await until(lambda: w.status().renders_total == 2)
        assert reloads == [1] and w.status().installs_total == 1
        task.cancel()

    asyncio.run(main())


def test_bad_data_keeps_the_last_good_file_and_is_counted(tmp_path: Path) -> None:
    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(tmp_path, source, reloads, quiet_s=0.01)
        task = asyncio.create_task(w.run())
        source.push(view(b="10.0.0.2"))
        await until(lambda: w.status().renders_total == 1)
        good = dest(tmp_path).read_bytes()
        source.push({**view(asn=65001), "poison": "1"})  # the model refuses the data
        await until(lambda: w.status().render_failures_total == 1)
        source.push({**view(asn=65001), f"{V1}/global/as_num": "99999999999"})  # a helper does
        await until(lambda: w.status().render_failures_total == 2)
        status = w.status()
        assert status.last_error == (
            "/calico/bgp/v1/global/as_num: AS number 99999999999 is out of range 1..4294967295"
        )
        assert dest(tmp_path).read_bytes() == good and reloads == [1]
        source.push(view(asn=65001))  # fixed: picked up
        await until(lambda: w.status().installs_total == 2)
        assert load_config(dest(tmp_path)).bgp.asn == 65001
        assert w.status().last_error is None
        task.cancel()

    asyncio.run(main())


def test_describe_error_of_a_model_error() -> None:
    error = CalicoDataError(
        [
            ConfigProblem(location="/calico/k1", message="bad selector"),
            ConfigProblem(location="/calico/k2", message="bad IP"),
        ]
    )
    assert describe_error(error) == "/calico/k1: bad selector (and 1 more problems)"


def test_describe_error_escapes_datastore_text() -> None:
    # One line, printable: `bgpd confd --onetime` prints it and the log carries it (issue 11).
    error = ValueError("peer \x1b[2J\nforged \ud800 \u2028end\x7f")
    assert describe_error(error) == "peer \\x1b[2J forged \\ud800 end\\x7f"  # U+2028 is a space


# ------------------------------------------------------------ issue 11: the watcher never dies


def test_an_unexpected_exception_is_a_counted_render_failure_and_the_watcher_lives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(tmp_path, source, reloads, quiet_s=0.01)
        task = asyncio.create_task(w.run())
        source.push(view())
        # the reload follows the install: wait for both (asserting the second raced it)
        await until(lambda: w.status().installs_total == 1 and len(reloads) == 1)
        good = dest(tmp_path).read_bytes()
        with caplog.at_level(logging.ERROR, logger="bgpd.confd.watcher"):
            source.push({**view(asn=65001), "bug": "1"})  # derive raises ZeroDivisionError
            await until(lambda: w.status().render_failures_total == 1)
        assert not task.done()
        status = w.status()
        assert status.last_error is not None
        assert status.last_error.startswith("unexpected ZeroDivisionError rendering model: ")
        (crash,) = [r for r in caplog.records if "unexpectedly" in r.getMessage()]
        assert crash.exc_info is not None  # the traceback is in the log
        assert dest(tmp_path).read_bytes() == good and reloads == [1]
        source.push(view(asn=65002))  # still watching: the next good change is rendered
        await until(lambda: w.status().installs_total == 2 and len(reloads) == 2)
        assert load_config(dest(tmp_path)).bgp.asn == 65002 and reloads == [1, 1]
        task.cancel()

    asyncio.run(main())


def cluster_v3() -> dict[str, str]:
    values = {**bgp_configuration(asNumber=64512), **node("a", "10.0.0.1/24")}
    values.update(node("b", "10.0.0.2/24"))
    return values


def test_the_values_of_issue_11_are_named_failures_through_the_real_model(
    tmp_path: Path,
) -> None:
    """A BGPPeer whose node is the JSON string "\\ud800", a v1 peer whose port is "²": each
    once made the render pass raise and killed the watcher silently."""

    async def main() -> None:
        source = FakeSource()
        reloads: list[int] = []
        w = make(
            tmp_path,
            source,
            reloads,
            lambda values: derive_view(values, LocalNode(nodename="a")),
            quiet_s=0.01,
        )
        task = asyncio.create_task(w.run())
        source.push(cluster_v3())
        await until(lambda: w.status().installs_total == 1 and len(reloads) == 1)
        good = dest(tmp_path).read_bytes()
        surrogate = {**cluster_v3(), f"{V3}/bgppeers/p": json.dumps({"spec": {"node": "\ud800"}})}
        assert "\\ud800" in surrogate[f"{V3}/bgppeers/p"]  # as etcd holds it: an escape
        source.push(surrogate)
        await until(lambda: w.status().render_failures_total == 1)
        assert w.status().last_error == (
            f"{V3}/bgppeers/p: malformed JSON: spec.node holds a lone UTF-16 surrogate "
            "(not valid Unicode)"
        )
        port = peer_key("global", "10.0.0.7")
        source.push({**cluster_v3(), port: '{"ip": "10.0.0.7", "as_num": "65000", "port": "²"}'})
        await until(lambda: w.status().render_failures_total == 2)
        assert w.status().last_error == f"{port}: invalid port '²': expected 0..65535"
        assert dest(tmp_path).read_bytes() == good and reloads == [1]
        fixed = {**cluster_v3(), port: '{"ip": "10.0.0.7", "as_num": "65000", "port": "1790"}'}
        source.push(fixed)
        await until(lambda: w.status().installs_total == 2)
        assert not task.done() and w.status().last_error is None
        peers = {p.name for p in load_config(dest(tmp_path)).all_peers}
        assert "Global_10_0_0_7_port_1790" in peers
        task.cancel()

    asyncio.run(main())


class FailingSource(FakeSource):
    """Yields what was pushed, then raises (a bug in a source's stream)."""

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        yield await self.queue.get()  # type: ignore[misc]
        raise RuntimeError("the stream broke")


def test_a_failing_source_ends_the_watcher_with_its_error(tmp_path: Path) -> None:
    async def main() -> None:
        source = FailingSource()
        w = make(tmp_path, source, [])
        source.push(view())
        with pytest.raises(RuntimeError, match="the stream broke"):
            await asyncio.wait_for(w.run(), 10)

    asyncio.run(main())


def test_a_source_that_stops_following_changes_ends_the_watcher(tmp_path: Path) -> None:
    async def main() -> None:
        source = FakeSource()
        w = make(tmp_path, source, [])
        task = asyncio.create_task(w.run())
        source.push(view())
        await w.wait_ready()
        await source.close()  # the stream ends while the watcher still runs
        with pytest.raises(ReloadError, match="stopped following changes"):
            await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_datastore_errors_are_the_one_problem_collecting_error() -> None:
    # The model's and the templates' errors are ConfigErrors: every reader of problems (the
    # CLI, describe_error, the watcher) sees one shape, `location` and `message`.
    one = DataError("/calico/bgp/v1/global/as_num", "not a number")
    assert isinstance(one, ConfigError) and isinstance(CalicoDataError([]), ConfigError)
    assert one.problems == (ConfigProblem(location=one.key, message=one.message),)
    assert str(one) == "/calico/bgp/v1/global/as_num: not a number" == describe_error(one)


class UnreadableSource(FakeSource):
    """Never reads; says so in its status once `fail()` is called."""

    error: str | None = None

    def status(self) -> SourceStatus:
        return SourceStatus(
            connected=False,
            last_error=self.error,
            revision=0,
            full_reads=0,
            unreadable=self.error is not None,
        )


def test_run_once_gives_up_when_the_source_cannot_be_read(tmp_path: Path) -> None:
    from bgpd.confd.sources.base import SourceUnreadableError

    source = UnreadableSource()
    watcher = make(tmp_path, source, [])

    async def main() -> None:
        once = asyncio.create_task(watcher.run_once())
        await asyncio.sleep(0)
        assert not once.done()  # still trying: no failure reported yet
        source.error = "http://127.0.0.1:2379: UNAVAILABLE"
        with pytest.raises(SourceUnreadableError, match="UNAVAILABLE"):
            await asyncio.wait_for(once, timeout=5)

    asyncio.run(main())
    assert not list(tmp_path.glob("**/bgpd.toml"))

"""EtcdSource against a real etcd (Debian's etcd-server) on loopback.

Each test runs one asyncio scenario: a `Follower` consumes the source's snapshots in a task
and records them; the test changes etcd (writes, restarts, moves it to another port, compacts)
and waits with a deadline for the follower to see the effect. etcd lifecycle calls run in a
thread so the source keeps running (and noticing the outage) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from bgpd.confd.sources.base import KvSnapshot
from bgpd.confd.sources.etcd import EtcdSettings, EtcdSource

from .etcd_server import EtcdServer
from .peers.ports import free_tcp_port

FACTORY = Callable[..., EtcdServer]


class Follower:
    """Consumes `EtcdSource.snapshots()` in a task and keeps every snapshot it got."""

    def __init__(self, source: EtcdSource) -> None:
        self.source = source
        self.seen: list[KvSnapshot] = []
        self.task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        async for snapshot in self.source.snapshots():
            self.seen.append(snapshot)

    @property
    def latest(self) -> KvSnapshot | None:
        return self.seen[-1] if self.seen else None

    async def until(
        self, predicate: Callable[[], object], message: str, timeout: float = 20.0
    ) -> None:
        """Poll ``predicate`` until true; on timeout fail with what was observed."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.task.done():
                self.task.result()  # raises what ended the iterator
                raise AssertionError(f"snapshots() ended while waiting for {message}")
            if time.monotonic() > deadline:
                latest = self.latest
                raise AssertionError(
                    f"timed out waiting for {message}; status={self.source.status()}; "
                    f"snapshots={len(self.seen)}; latest revision="
                    f"{latest.revision if latest else None}, "
                    f"keys={sorted(latest.values)[:20] if latest else None}"
                )
            await asyncio.sleep(0.02)

    async def value(self, key: str, expected: str | None, timeout: float = 20.0) -> KvSnapshot:
        """Wait until the latest snapshot has ``key`` == ``expected`` (None: absent)."""

        def ok() -> bool:
            latest = self.latest
            return latest is not None and latest.values.get(key) == expected

        await self.until(ok, f"{key} == {expected!r}", timeout)
        assert self.latest is not None
        return self.latest

    async def close(self) -> None:
        await self.source.close()
        await asyncio.wait_for(self.task, 10)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 240))


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@contextlib.asynccontextmanager
async def following(settings: EtcdSettings) -> AsyncIterator[Follower]:
    follower = Follower(EtcdSource(settings))
    try:
        yield follower
    finally:
        await follower.close()


def test_first_read_then_watch_batches_transactions(etcd_server: EtcdServer) -> None:
    etcd_server.put_many({"/calico/a": "1", "/calico/b": "2", "/other/x": "outside"})

    async def scenario() -> None:
        async with following(etcd_server.settings()) as f:
            await f.until(lambda: f.latest is not None, "first snapshot")
            first = f.seen[0]
            assert dict(first.values) == {"/calico/a": "1", "/calico/b": "2"}
            assert first.revision == etcd_server.revision()

            etcd_server.put("/calico/c", "3")
            await f.value("/calico/c", "3")
            etcd_server.delete("/calico/a")
            await f.value("/calico/a", None)

            txn = {f"/calico/txn/{i}": str(i) for i in range(50)}
            rev = etcd_server.txn_put(txn)
            snap = await f.value("/calico/txn/49", "49")
            assert snap.revision == rev
            # The transaction arrived as one batch: no snapshot holds only part of it.
            for s in f.seen:
                present = sum(k in s.values for k in txn)
                assert present in (0, len(txn)), f"partial transaction in revision {s.revision}"
            # Snapshots are immutable: older ones did not change under us.
            assert "/calico/c" not in first.values
            assert f.source.status().full_reads == 1
            assert f.source.status().connected

    run(scenario)


def test_failover_skips_a_dead_first_endpoint(etcd_server: EtcdServer) -> None:
    etcd_server.put("/calico/k", "v")
    dead = f"http://127.0.0.1:{free_tcp_port()}"

    async def scenario() -> None:
        settings = etcd_server.settings(endpoints=(dead, etcd_server.endpoint))
        async with following(settings) as f:
            snap = await f.value("/calico/k", "v")
            assert snap.revision == etcd_server.revision()
            status = f.source.status()
            assert status.connected and status.full_reads == 1
            etcd_server.put("/calico/k", "v2")
            await f.value("/calico/k", "v2")

    run(scenario)


def test_failover_to_the_next_endpoint_while_watching(etcd_server: EtcdServer) -> None:
    etcd_server.put("/calico/k", "v1")
    second_port = free_tcp_port()

    async def scenario() -> None:
        second = f"http://127.0.0.1:{second_port}"
        async with following(etcd_server.settings(endpoints=(etcd_server.endpoint, second))) as f:
            await f.value("/calico/k", "v1")
            # etcd now answers only on the second endpoint, with a change made meanwhile.
            await in_thread(etcd_server.move_away, second_port)
            etcd_server.put("/calico/k", "v2")
            await f.value("/calico/k", "v2")
            assert f.source.status().full_reads == 1  # resumed the watch, no re-read
            await in_thread(etcd_server.move_back)
            etcd_server.put("/calico/k", "v3")
            await f.value("/calico/k", "v3")
            assert f.source.status().full_reads == 1

    run(scenario)


def test_restart_resumes_the_watch_without_a_full_reread(etcd_server: EtcdServer) -> None:
    etcd_server.put_many({"/calico/keep": "1", "/calico/gone": "x"})

    async def scenario() -> None:
        async with following(etcd_server.settings(backoff_max=0.5)) as f:
            await f.value("/calico/keep", "1")
            snapshots_before = len(f.seen)

            await in_thread(etcd_server.move_away)
            await f.until(lambda: not f.source.status().connected, "the source noticing")
            status = f.source.status()
            assert status.last_error is not None and etcd_server.endpoint[7:] in status.last_error
            # While etcd is away the data changes: the watch must replay exactly this.
            etcd_server.put("/calico/new", "2")
            etcd_server.delete("/calico/gone")
            etcd_server.put("/calico/keep", "3")
            assert len(f.seen) == snapshots_before  # the last state is kept, nothing emptied
            await in_thread(etcd_server.move_back)

            await f.value("/calico/keep", "3")
            latest = f.latest
            assert latest is not None
            assert dict(latest.values) == {"/calico/keep": "3", "/calico/new": "2"}
            assert latest.revision == etcd_server.revision()
            status = f.source.status()
            assert status.full_reads == 1 and status.connected and status.last_error is None

            # A plain restart (same port) too.
            await in_thread(etcd_server.restart)
            etcd_server.put("/calico/after", "4")
            await f.value("/calico/after", "4")
            assert f.source.status().full_reads == 1
            assert all(s.values for s in f.seen)

    run(scenario)


def test_compaction_while_away_forces_a_full_reread(etcd_server: EtcdServer) -> None:
    etcd_server.put_many({"/calico/a": "1", "/calico/b": "2"})

    async def scenario() -> None:
        async with following(etcd_server.settings(backoff_max=0.5)) as f:
            await f.value("/calico/a", "1")
            assert f.source.status().full_reads == 1
            await in_thread(etcd_server.move_away)
            await f.until(lambda: not f.source.status().connected, "the source noticing")
            etcd_server.delete("/calico/a")
            etcd_server.put("/calico/c", "3")
            etcd_server.put("/calico/c", "33")
            compacted = etcd_server.compact()
            await in_thread(etcd_server.move_back)

            await f.value("/calico/c", "33")
            latest = f.latest
            assert latest is not None
            assert dict(latest.values) == {"/calico/b": "2", "/calico/c": "33"}
            assert latest.revision >= compacted
            assert f.source.status().full_reads == 2
            etcd_server.put("/calico/d", "4")  # and the watch runs again after the re-read
            await f.value("/calico/d", "4")
            assert f.source.status().full_reads == 2

    run(scenario)


def test_twenty_thousand_keys_paginated(etcd_server: EtcdServer) -> None:
    value = "x" * 200  # 20k x ~230 B: over gRPC's default 4 MiB in one range reply
    keys = {
        f"/calico/resources/v3/projectcalico.org/nodes/node-{i:05d}": value for i in range(20_000)
    }
    etcd_server.put_many(keys)

    async def scenario() -> None:
        # The pages must also shrink when a page is too big for the client's receive limit.
        settings = etcd_server.settings(page_size=20_000, max_message_bytes=1_000_000)
        async with following(settings) as f:
            await f.until(lambda: f.latest is not None, "first snapshot", timeout=60)
            latest = f.latest
            assert latest is not None
            assert len(latest.values) == 20_000
            assert latest.values == keys
            etcd_server.put("/calico/resources/v3/projectcalico.org/nodes/node-00007", "y")
            snap = await f.value("/calico/resources/v3/projectcalico.org/nodes/node-00007", "y")
            assert len(snap.values) == 20_000

        async with following(etcd_server.settings(page_size=999)) as g:
            await g.until(lambda: g.latest is not None, "first snapshot", timeout=60)
            assert g.latest is not None and len(g.latest.values) == 20_000

    run(scenario)


def test_multiple_prefixes(etcd_server: EtcdServer) -> None:
    etcd_server.put_many({"/calico/bgp/v1/a": "1", "/calico/ipam/v2/b": "2", "/calico/x": "no"})

    async def scenario() -> None:
        prefixes = ("/calico/ipam/v2/", "/calico/bgp/v1/", "/calico/bgp/v1/global/")
        async with following(etcd_server.settings(prefixes=prefixes)) as f:
            await f.until(lambda: f.latest is not None, "first snapshot")
            assert dict(f.seen[0].values) == {"/calico/bgp/v1/a": "1", "/calico/ipam/v2/b": "2"}
            etcd_server.put("/calico/ipam/v2/c", "3")
            etcd_server.put("/calico/x", "still no")
            etcd_server.put("/calico/bgp/v1/global/as_num", "64512")
            await f.value("/calico/bgp/v1/global/as_num", "64512")
            await f.value("/calico/ipam/v2/c", "3")
            assert all("/calico/x" not in s.values for s in f.seen)

    run(scenario)


def test_tls_with_client_certificates(etcd_factory: FACTORY) -> None:
    etcd = etcd_factory(tls=True)
    assert etcd.endpoint.startswith("https://")
    etcd.put("/calico/secure", "yes")

    async def scenario() -> None:
        async with following(etcd.settings()) as f:
            await f.value("/calico/secure", "yes")
            etcd.put("/calico/secure", "still")
            await f.value("/calico/secure", "still")

        # etcd runs with --client-cert-auth: without a client certificate there is no access.
        assert etcd.tls is not None
        without_cert = etcd.settings(cert=None, key=None, backoff_max=0.3)
        async with following(without_cert) as g:
            await g.until(lambda: g.source.status().last_error is not None, "a TLS error")
            assert not g.seen and not g.source.status().connected

    run(scenario)


def test_user_password_auth(etcd_factory: FACTORY) -> None:
    etcd = etcd_factory(auth=True)
    etcd.put("/calico/auth", "ok")

    async def scenario() -> None:
        async with following(etcd.settings()) as f:
            await f.value("/calico/auth", "ok")
            etcd.put("/calico/auth", "watched")
            await f.value("/calico/auth", "watched")
            await in_thread(etcd.restart)  # tokens die with the process: re-authenticate
            etcd.put("/calico/auth", "after restart")
            await f.value("/calico/auth", "after restart")

        wrong = etcd.settings(password="wrong", backoff_max=0.3)
        async with following(wrong) as g:
            await g.until(lambda: g.source.status().last_error is not None, "an auth error")
            error = g.source.status().last_error or ""
            assert "authentication failed" in error, error
            assert not g.seen

        anonymous = etcd.settings(username=None, password=None, backoff_max=0.3)
        async with following(anonymous) as h:
            await h.until(lambda: h.source.status().last_error is not None, "a permission error")
            assert not h.seen

    run(scenario)


def test_close_ends_the_iterator_even_during_an_outage(etcd_server: EtcdServer) -> None:
    async def scenario() -> None:
        follower = Follower(EtcdSource(etcd_server.settings()))
        await follower.until(lambda: follower.latest is not None, "first snapshot")
        await in_thread(etcd_server.stop)
        await follower.until(lambda: not follower.source.status().connected, "disconnect")
        assert not follower.task.done()  # an outage does not end the iterator
        await follower.close()
        assert follower.task.done()

    run(scenario)


def test_a_hung_server_is_detected_and_left(etcd_factory: FACTORY) -> None:
    # A frozen etcd keeps its TCP connections open: only keepalive pings reveal it.
    hung, healthy = etcd_factory(), etcd_factory()
    hung.put("/calico/k", "from hung")

    async def scenario() -> None:
        async with following(hung.settings(endpoints=(hung.endpoint, healthy.endpoint))) as f:
            await f.value("/calico/k", "from hung")
            healthy.put("/calico/k", "from healthy")
            hung.freeze()
            try:
                # keepalive (10 s + 5 s) notices, then the next endpoint serves a full read:
                # a different cluster, so its revisions mean nothing for the resume point.
                await f.value("/calico/k", "from healthy", timeout=45)
                assert f.source.status().connected
                assert f.source.status().full_reads == 2
            finally:
                hung.thaw()

    run(scenario)


def test_a_slow_consumer_gets_one_snapshot_covering_every_change(etcd_server: EtcdServer) -> None:
    etcd_server.put("/calico/start", "0")

    async def scenario() -> None:
        source = EtcdSource(etcd_server.settings())
        snapshots = source.snapshots()
        try:
            first = await anext(snapshots)
            assert dict(first.values) == {"/calico/start": "0"}
            last = 0
            for i in range(100):  # the consumer is busy (not pulling) meanwhile
                last = etcd_server.put(f"/calico/k{i}", str(i))
            deadline = time.monotonic() + 20
            while source.status().revision < last:
                assert time.monotonic() < deadline, source.status()
                await asyncio.sleep(0.02)
            second = await anext(snapshots)
            assert second.revision == last
            assert len(second.values) == 101 and second.values["/calico/k99"] == "99"
        finally:
            await source.close()
        # close() ended the iterator.
        assert [s async for s in snapshots] == []

    run(scenario)

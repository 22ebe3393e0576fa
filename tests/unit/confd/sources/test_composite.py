"""CompositeSource: two file sources merged, first snapshot only when both have read."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from bgpd.confd.sources.composite import CompositeSource
from bgpd.confd.sources.file import FileSource


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(bump * 10**9, bump * 10**9))  # a distinct mtime: the poll sees it


def test_merge_waits_for_both_then_follows_either(tmp_path: Path) -> None:
    etcd, kube = tmp_path / "etcd.yaml", tmp_path / "kube.yaml"
    write(etcd, "/calico/a: '1'\n", 1)
    followed: list[Mapping[str, str]] = []

    async def scenario() -> None:
        source = CompositeSource(
            FileSource(etcd, poll_interval=0.01),
            FileSource(kube, poll_interval=0.01),
            follow_primary=followed.append,
        )
        stream = source.snapshots()
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)
        assert not first.done(), "merged before the second source had a complete read"
        assert not source.status().connected
        write(kube, "/kubernetes/services/ns/s: '{}'\n/calico/a: 'shadowed'\n", 2)
        snap = await asyncio.wait_for(first, 5)
        assert dict(snap.values) == {"/calico/a": "1", "/kubernetes/services/ns/s": "{}"}
        write(kube, "/kubernetes/services/ns/s: '{\"x\":1}'\n", 3)
        snap = await asyncio.wait_for(anext(stream), 5)
        assert snap.values["/kubernetes/services/ns/s"] == '{"x":1}'
        write(etcd, "/calico/a: '2'\n", 4)
        snap = await asyncio.wait_for(anext(stream), 5)
        assert snap.values["/calico/a"] == "2"
        assert source.status().connected
        await source.close()
        assert [dict(v) for v in followed] == [{"/calico/a": "1"}, {"/calico/a": "2"}]

    asyncio.run(scenario())

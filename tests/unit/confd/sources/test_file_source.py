"""FileSource and the key/value file parser: formats, change detection, broken files."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bgpd.confd.sources import FileSource, FileSourceError, KvSnapshot, parse_kv_file
from bgpd.confd.sources.file import parse_kv_text

YAML = """\
/calico/bgp/v1/global/as_num: 64512
/calico/bgp/v1/global/node_mesh: {"enabled": true}
/calico/bgp/v1/global/loglevel: info
/calico/resources/v3/projectcalico.org/bgppeers/rr: |-
  {"kind":"BGPPeer","spec":{"peerIP":"10.0.0.1","asNumber":64513}}
/flag: false
/list: [1, "a"]
/date: 2024-01-02
"""


def test_yaml_values_strings_kept_others_json_encoded() -> None:
    values = parse_kv_text(YAML, fmt="yaml")
    assert values == {
        "/calico/bgp/v1/global/as_num": "64512",
        "/calico/bgp/v1/global/node_mesh": '{"enabled":true}',
        "/calico/bgp/v1/global/loglevel": "info",
        "/calico/resources/v3/projectcalico.org/bgppeers/rr": (
            '{"kind":"BGPPeer","spec":{"peerIP":"10.0.0.1","asNumber":64513}}'
        ),
        "/flag": "false",
        "/list": '[1,"a"]',
        "/date": "2024-01-02",
    }
    # What the JSON-encoded values decode to is what the file said.
    assert json.loads(values["/calico/bgp/v1/global/node_mesh"]) == {"enabled": True}


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "kv.toml"
    path.write_text(
        '"/calico/bgp/v1/global/as_num" = "64512"\n'
        '"/calico/bgp/v1/host/node1/ip_addr_v4" = "10.0.0.5"\n'
        '"/n" = 7\n'
        '["/calico/bgp/v1/global/node_mesh"]\nenabled = false\n'
    )
    assert parse_kv_file(path) == {
        "/calico/bgp/v1/global/as_num": "64512",
        "/calico/bgp/v1/host/node1/ip_addr_v4": "10.0.0.5",
        "/n": "7",
        "/calico/bgp/v1/global/node_mesh": '{"enabled":false}',
    }


def test_json_file_is_read_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "kv.json"
    path.write_text('{"/a": "1", "/b": {"x": [1, 2]}}')
    assert parse_kv_file(path) == {"/a": "1", "/b": '{"x":[1,2]}'}


@pytest.mark.parametrize(
    ("text", "fmt", "needle"),
    [
        ("- a\n- b\n", "yaml", "expected a mapping"),
        ("1: x\n", "yaml", "key 1 is not a string"),
        ("a: [1,\n", "yaml", "invalid YAML"),
        ("", "yaml", "empty file"),
        ("a = ", "toml", "invalid TOML"),
        ("a: b\n", "ini", "unknown format"),
    ],
)
def test_bad_files_are_rejected_with_the_reason(text: str, fmt: str, needle: str) -> None:
    with pytest.raises(FileSourceError, match=needle) as info:
        parse_kv_text(text, fmt=fmt, where="/etc/kv.yaml")
    assert "/etc/kv.yaml" in str(info.value)


def test_invalid_yaml_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "kv.yaml"
    path.write_text("/a: 1\n/b: [unclosed\n/c: 3\n")
    with pytest.raises(FileSourceError) as info:
        parse_kv_file(path)
    assert str(path) in str(info.value) and "line" in str(info.value)


# -- the watching source ----------------------------------------------------------------------


class Follower:
    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.seen: list[KvSnapshot] = []
        self.task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        async for snap in self.source.snapshots():
            self.seen.append(snap)

    async def until(self, predicate: Callable[[], object], what: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: status={self.source.status()} "
                    f"seen={[dict(s.values) for s in self.seen]}"
                )
            await asyncio.sleep(0.01)

    async def count(self, n: int) -> KvSnapshot:
        await self.until(lambda: len(self.seen) >= n, f"{n} snapshots")
        return self.seen[n - 1]

    async def close(self) -> None:
        await self.source.close()
        await asyncio.wait_for(self.task, 5)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def replace_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_follows_changes_and_keeps_the_last_good_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kv.yaml"
    path.write_text("/a: 1\n")
    caplog.set_level(logging.INFO, logger="bgpd.confd.sources.file")

    async def scenario() -> None:
        f = Follower(FileSource(path, poll_interval=0.01))
        first = await f.count(1)
        assert dict(first.values) == {"/a": "1"} and first.revision == 1
        assert f.source.status().connected and f.source.status().last_error is None

        replace_atomically(path, "/a: 2\n/b: x\n")  # a rename over the file (new inode)
        second = await f.count(2)
        assert dict(second.values) == {"/a": "2", "/b": "x"} and second.revision == 2

        with path.open("w") as fh:  # an in-place rewrite (same inode)
            fh.write("/a: 3\n/b: x\n")
        assert dict((await f.count(3)).values) == {"/a": "3", "/b": "x"}

        path.write_text("/a: [broken\n")
        await f.until(lambda: f.source.status().last_error is not None, "the parse error")
        status = f.source.status()
        assert not status.connected and status.revision == 3
        assert "invalid YAML" in (status.last_error or "")
        assert len(f.seen) == 3  # the broken file produced no snapshot
        assert dict(first.values) == {"/a": "1"}  # and old snapshots never change

        replace_atomically(path, "/a: 4\n")
        fourth = await f.count(4)
        assert dict(fourth.values) == {"/a": "4"} and fourth.revision == 4
        assert f.source.status().last_error is None
        await f.close()

    run(scenario)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # logged once, not every interval
    assert "invalid YAML" in errors[0].getMessage() and str(path) in errors[0].getMessage()


def test_same_content_gives_no_new_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "kv.yaml"
    path.write_text("/a: 1\n")

    async def scenario() -> None:
        f = Follower(FileSource(path, poll_interval=0.01))
        await f.count(1)
        replace_atomically(path, "/a: '1'\n")  # different bytes, same key/values
        await f.until(lambda: f.source.status().full_reads == 2, "the re-read")
        replace_atomically(path, "/a: 5\n")
        assert dict((await f.count(2)).values) == {"/a": "5"}
        assert [s.revision for s in f.seen] == [1, 2]
        await f.close()

    run(scenario)


def test_waits_for_the_file_to_appear(tmp_path: Path) -> None:
    path = tmp_path / "later.toml"

    async def scenario() -> None:
        f = Follower(FileSource(path, poll_interval=0.01))
        await f.until(lambda: f.source.status().last_error is not None, "a missing-file error")
        assert "does not exist" in (f.source.status().last_error or "") and not f.seen
        replace_atomically(path, '"/x" = "y"\n')
        assert dict((await f.count(1)).values) == {"/x": "y"}
        await f.close()

    run(scenario)


def test_configmap_style_symlink_swap(tmp_path: Path) -> None:
    # Kubernetes mounts ConfigMap keys as kv.yaml -> ..data/kv.yaml, ..data -> ..<timestamp>.
    (tmp_path / "..v1").mkdir()
    (tmp_path / "..v1" / "kv.yaml").write_text("/a: 1\n")
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "kv.yaml").symlink_to("..data/kv.yaml")

    async def scenario() -> None:
        f = Follower(FileSource(tmp_path / "kv.yaml", poll_interval=0.01))
        await f.count(1)
        (tmp_path / "..v2").mkdir()
        (tmp_path / "..v2" / "kv.yaml").write_text("/a: 2\n")
        (tmp_path / "..data.tmp").symlink_to("..v2")
        os.replace(tmp_path / "..data.tmp", tmp_path / "..data")
        assert dict((await f.count(2)).values) == {"/a": "2"}
        await f.close()

    run(scenario)


def test_close_ends_the_iterator(tmp_path: Path) -> None:
    path = tmp_path / "kv.yaml"
    path.write_text("/a: 1\n")

    async def scenario() -> None:
        f = Follower(FileSource(path, poll_interval=30))  # close must not wait an interval
        await f.count(1)
        started = time.monotonic()
        await f.close()
        assert f.task.done() and time.monotonic() - started < 5

    run(scenario)


def test_bad_poll_interval() -> None:
    with pytest.raises(FileSourceError):
        FileSource("x.yaml", poll_interval=0)

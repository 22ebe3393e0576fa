"""EndpointStatusSource: Felix's endpoint status files as `/calico/endpoint-status/<file>` keys.

Files appear, change and vanish; bad files (half-written, garbage, unreadable) never change the
view and are logged once, naming the file; the directory may be missing, then appear.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from bgpd.confd.sources.base import KvSnapshot
from bgpd.confd.sources.endpoint_status import (
    EndpointStatusSource,
    FileRead,
    StatusFiles,
    status_directory,
)

WEP = "k8s default%2Fbird-0 eth0"
KEY = f"/calico/endpoint-status/{WEP}"
GOOD = json.dumps(
    {"ifaceName": "cali1", "ipv4Nets": ["10.65.0.5/32"], "bgpPeerName": "wl"},
    separators=(",", ":"),
)
MOVED = GOOD.replace("10.65.0.5", "10.65.0.6")


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    d = status_directory(tmp_path)
    d.mkdir()
    return d


def touch_later(path: Path, text: str) -> None:
    """Write `text` with an mtime one second on, so the stat changes even within one tick."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def invalid_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "endpoint_status.invalid" in r.msg]


def test_files_appear_change_and_vanish(directory: Path) -> None:
    source = EndpointStatusSource(directory)
    assert source.poll() is False and source.values() == {}
    (directory / WEP).write_text(GOOD)
    assert source.poll() is True
    assert source.values() == {KEY: GOOD}
    assert source.poll() is False  # unchanged: no new snapshot
    touch_later(directory / WEP, MOVED)
    assert source.poll() is True
    assert source.values() == {KEY: MOVED}
    (directory / WEP).unlink()
    assert source.poll() is True
    assert source.values() == {}


def test_a_bad_file_keeps_the_last_good_content_and_is_logged_once(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bgpd.confd.sources.endpoint_status")
    source = EndpointStatusSource(directory)
    (directory / WEP).write_text(GOOD)
    source.poll()
    touch_later(directory / WEP, '{"ipv4Nets": ["10.65')  # caught half-written
    assert source.poll() is False
    assert source.values() == {KEY: GOOD}
    assert invalid_lines(caplog) == []  # a write may be under way: read again first
    assert source.poll() is False  # still bad at the same stat: logged now
    assert invalid_lines(caplog) == [
        f"confd.endpoint_status.invalid file={WEP} error=malformed JSON: "
        "Unterminated string starting at: line 1 column 15 (char 14) "
        "keeping=the last good content"
    ]
    assert source.status().last_error is not None and WEP in source.status().last_error
    assert source.poll() is False
    assert len(invalid_lines(caplog)) == 1  # once per change of the file
    touch_later(directory / WEP, MOVED)  # fixed
    assert source.poll() is True
    assert source.values() == {KEY: MOVED}
    assert source.status().last_error is None


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe garbage", b"[1, 2]", b'{"ipv4Nets": ["10.65.0.5"]}', b"{" * 70_000],
)
def test_garbage_never_enters_the_view(
    directory: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    source = EndpointStatusSource(directory)
    (directory / "garbage").write_bytes(content)
    (directory / WEP).write_text(GOOD)
    source.poll()
    source.poll()
    assert source.values() == {KEY: GOOD}
    (line,) = invalid_lines(caplog)
    assert "file=garbage" in line and "keeping=nothing" in line


def test_directories_and_dangling_links_are_skipped(directory: Path) -> None:
    (directory / WEP).mkdir()  # not a file
    (directory / "x").symlink_to(directory / "nowhere")  # dangling: not a regular file
    source = EndpointStatusSource(directory)
    source.poll()
    assert source.values() == {}


def test_a_missing_directory_is_empty_until_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bgpd.confd.sources.endpoint_status")
    directory = status_directory(tmp_path)
    source = EndpointStatusSource(directory)
    assert source.poll() is False and source.values() == {}
    assert source.status().connected
    directory.mkdir()
    (directory / WEP).write_text(GOOD)
    assert source.poll() is True and source.values() == {KEY: GOOD}
    (directory / WEP).unlink()
    directory.rmdir()
    assert source.poll() is True and source.values() == {}
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split()[0] for m in messages if "directory" in m or "watching" in m] == [
        "confd.endpoint_status.no_directory",
        "confd.endpoint_status.watching",
        "confd.endpoint_status.no_directory",
    ]


def test_a_file_that_changed_while_read_is_read_again() -> None:
    files = StatusFiles()
    stat_a, stat_b = (1, 1, 10, 1, 1), (1, 1, 10, 2, 2)
    assert files.to_read({"f": stat_a}) == ["f"]
    # The poll's read saw another stat (it returned no FileRead): nothing is taken...
    assert files.update({"f": stat_a}, {}) is False
    # ...and the next poll reads it again.
    assert files.to_read({"f": stat_b}) == ["f"]
    assert files.update({"f": stat_b}, {"f": FileRead(stat=stat_b, text=GOOD)}) is True
    assert files.to_read({"f": stat_b}) == []


def test_snapshots_first_after_the_first_scan_then_per_change(directory: Path) -> None:
    async def scenario() -> list[KvSnapshot]:
        source = EndpointStatusSource(directory, poll_interval=0.01)
        seen: list[KvSnapshot] = []
        it = source.snapshots()
        seen.append(await asyncio.wait_for(anext(it), 5))
        (directory / WEP).write_text(GOOD)
        seen.append(await asyncio.wait_for(anext(it), 5))
        (directory / WEP).unlink()
        seen.append(await asyncio.wait_for(anext(it), 5))
        await source.close()
        await it.aclose()
        return seen

    snaps = asyncio.run(scenario())
    assert [dict(s.values) for s in snaps] == [{}, {KEY: GOOD}, {}]
    assert [s.revision for s in snaps] == [1, 2, 3]

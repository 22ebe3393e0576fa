"""`--pidfile-to-signal`: SIGHUP goes to one bgpd process or to nobody (issue 11).

`os.kill(0, ...)` signals our own process group and `os.kill(-1, ...)` every process we may
signal, so a pidfile holding 0, -1, garbage, a stale PID or another program's PID must end in
a clear error and no signal. The processes signalled here are children this test starts."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgpd.confd.pidfile import ReloadError, read_pid, signal_pidfile
from tests.integration.peers.poll import wait_until

# A stand-in speaker: "bgpd" in its command line; it writes a line per SIGHUP it gets.
SPEAKER = """
import signal, sys, time
out = sys.argv[1]
def hup(signum, frame):
    with open(out, "a") as f:
        f.write("hup\\n")
signal.signal(signal.SIGHUP, hup)
print("ready", flush=True)
while True:
    time.sleep(60)
"""


@pytest.fixture
def child(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A process that handles SIGHUP; stopped by its PID at teardown."""
    marker = tmp_path / "hups"
    proc = subprocess.Popen(
        [sys.executable, "-c", SPEAKER, str(marker), "bgpd"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        yield proc, marker
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"0\n", "holds PID 0"),
        (b"00\n", "holds PID 0"),
        (b"-1\n", "does not hold a PID"),
        (b"+12\n", "does not hold a PID"),
        (b"", "does not hold a PID"),
        (b"\n", "does not hold a PID"),
        (b"bgpd\n", "does not hold a PID"),
        ("²\n".encode(), "does not hold a PID"),
        ("٣\n".encode(), "does not hold a PID"),
        (b"12 34\n", "does not hold a PID"),
        (b"1" * 100, "does not hold a PID"),
        (b"\xff\xfe", "does not hold a PID"),
    ],
)
def test_only_a_positive_pid_in_ascii_digits_is_read(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bgpd.pid"
    path.write_bytes(content)
    with pytest.raises(ReloadError, match=message):
        read_pid(path)


def test_a_pidfile_with_a_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bgpd.pid"
    path.write_text("4242\n")
    assert read_pid(path) == 4242
    with pytest.raises(ReloadError, match="cannot read"):
        read_pid(tmp_path / "missing.pid")


def test_a_bgpd_process_gets_sighup(
    tmp_path: Path, child: tuple[subprocess.Popen[str], Path]
) -> None:
    proc, marker = child
    pidfile = tmp_path / "bgpd.pid"
    pidfile.write_text(f"{proc.pid}\n")
    hook = signal_pidfile(pidfile)
    hook()
    wait_until(lambda: marker.exists() and marker.read_text() == "hup\n", timeout=10)
    hook()
    wait_until(lambda: marker.read_text() == "hup\nhup\n", timeout=10)


def test_another_program_is_not_signalled(tmp_path: Path) -> None:
    # `sleep` dies of SIGHUP: were it signalled, it would be gone.
    proc = subprocess.Popen(["sleep", "60"])
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        wait_until(lambda: cmdline.read_bytes().startswith(b"sleep"), timeout=10)  # exec done
        pidfile = tmp_path / "bgpd.pid"
        pidfile.write_text(f"{proc.pid}\n")
        with pytest.raises(ReloadError, match=rf"process {proc.pid} is not bgpd .*sleep 60"):
            signal_pidfile(pidfile)()
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_stale_pid_and_our_own_pid_are_refused(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: its PID names no process now (reuse within the test is unlikely)
    pidfile = tmp_path / "bgpd.pid"
    pidfile.write_text(f"{proc.pid}\n")
    with pytest.raises(ReloadError, match="no process"):
        signal_pidfile(pidfile)()
    # Our own PID: confd has no SIGHUP handler, so the signal would end the watcher itself.
    pidfile.write_text(f"{os.getpid()}\n")
    received: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
    try:
        with pytest.raises(ReloadError, match="our own PID"):
            signal_pidfile(pidfile)()
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert received == []


def test_no_pidfile_before_the_first_signal_is_the_speaker_not_started(
    tmp_path: Path,
    child: tuple[subprocess.Popen[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """calico-node starts confd before the speaker: its first render finds no pidfile, which
    is no error; once a speaker was signalled, a pidfile that went is one."""
    proc, marker = child
    pidfile = tmp_path / "bgpd.pid"
    hook = signal_pidfile(pidfile)
    with caplog.at_level(logging.INFO, logger="bgpd.confd.pidfile"):
        hook()  # nothing to signal yet, and nothing raised
    assert "confd speaker not started yet" in caplog.text
    pidfile.write_text(f"{proc.pid}\n")
    hook()
    wait_until(lambda: marker.exists() and marker.read_text() == "hup\n", timeout=10)
    pidfile.unlink()
    with pytest.raises(ReloadError, match="cannot read"):
        hook()

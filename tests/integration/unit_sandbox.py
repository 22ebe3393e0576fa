"""Runs a command under the seccomp parts of a systemd unit's sandbox, without systemd.

Usage (run by Debian's python3, which has the `seccomp` module of python3-seccomp, after
`setpriv` has set the unit's user, capabilities and no_new_privs):

    python3 unit_sandbox.py SPEC.json -- COMMAND ARGS...

SPEC holds what the test read from the unit: `syscalls` (the names SystemCallFilter= leaves
allowed, every group expanded), `errno` (SystemCallErrorNumber=), `families`
(RestrictAddressFamilies=, as numbers), `deny_write_execute` (MemoryDenyWriteExecute=) and
`umask` (UMask=). The filters are those systemd 252 installs for these settings: an allow-list
whose default action is the error number; socket() refused with EAFNOSUPPORT outside the
families; mmap() with PROT_WRITE|PROT_EXEC, mprotect()/pkey_mprotect() with PROT_EXEC and
shmat() with SHM_EXEC refused with EPERM. Then it execs COMMAND.

The standard library and python3-seccomp only: it runs outside the test venv, as the unit's
unprivileged user.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import sys

import seccomp  # type: ignore[import-not-found]

SHM_EXEC = 0o100000


def allow_list(names: list[str], error: int) -> seccomp.SyscallFilter:
    flt = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    for name in names:
        try:
            flt.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):  # a name this architecture does not have
            continue
    return flt


def restrictions(families: list[int], deny_write_execute: bool) -> seccomp.SyscallFilter:
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
    # "family not in the list": each number below the largest allowed one, and all above it
    # (libseccomp compares an argument once per rule, so a range cannot be one rule).
    for family in range(max(families)):
        if family not in families:
            flt.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
    flt.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.GT, max(families)))
    if deny_write_execute:
        eperm = seccomp.ERRNO(errno.EPERM)
        wx = mmap.PROT_WRITE | mmap.PROT_EXEC
        flt.add_rule(eperm, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        for name in ("mprotect", "pkey_mprotect"):
            flt.add_rule(
                eperm, name, seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC)
            )
        flt.add_rule(eperm, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
    return flt


def main(argv: list[str]) -> None:
    spec_path, separator, *command = argv
    assert separator == "--" and command, __doc__
    with open(spec_path) as f:
        spec = json.load(f)
    os.umask(int(spec["umask"], 8))
    restrictions(spec["families"], spec["deny_write_execute"]).load()
    allow_list(spec["syscalls"], spec["errno"]).load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

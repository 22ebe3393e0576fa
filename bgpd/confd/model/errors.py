"""Errors of the Calico data model: every problem found in a snapshot, each naming its key.

Invariants: a `CalicoDataError` is raised only after the whole snapshot was examined, so it
lists every bad key at once (in key order), never only the first. It is the project's one
problem-collecting error, `bgpd.errors.ConfigError`, each `ConfigProblem`'s location being the
datastore key; the subclass only names where the problems were found.
"""

from __future__ import annotations

from bgpd.errors import ConfigError

__all__ = ["CalicoDataError"]


class CalicoDataError(ConfigError):
    """Calico data that must not be rendered; lists every problem found, located by key."""

    __slots__ = ()

"""Errors of the Calico data model: every problem found in a snapshot, each naming its key.

Invariants: a `CalicoDataError` is raised only after the whole snapshot was examined, so it
lists every bad key at once (in key order), never only the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.errors import BgpdError

__all__ = ["CalicoDataError", "DataProblem"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DataProblem:
    """One thing wrong with the datastore: the etcd key holding it, and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class CalicoDataError(BgpdError):
    """Calico data that must not be rendered; lists every problem found."""

    __slots__ = ("problems",)

    def __init__(self, problems: Iterable[DataProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

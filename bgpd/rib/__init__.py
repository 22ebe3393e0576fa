"""Routing information bases: the Loc-RIB with its decision process, and
the Graceful Restart helper timers. Sans-IO, standard library only."""

from bgpd.rib.candidate import Candidate, CandidateCache, ChangeGroup, NextHopRefused, RouteChange
from bgpd.rib.decision import best_path, prefer, rank, select
from bgpd.rib.graceful import DEFAULT_STALE_TIME, GracefulRestartTracker
from bgpd.rib.loc_rib import LocRib
from bgpd.rib.path_info import PathInfo
from bgpd.rib.source import Source, SourceKind

__all__ = [
    "DEFAULT_STALE_TIME",
    "Candidate",
    "CandidateCache",
    "ChangeGroup",
    "GracefulRestartTracker",
    "LocRib",
    "NextHopRefused",
    "PathInfo",
    "RouteChange",
    "Source",
    "SourceKind",
    "best_path",
    "prefer",
    "rank",
    "select",
]

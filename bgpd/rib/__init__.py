"""Routing information bases: Adj-RIB-In per peer, the Loc-RIB with its decision process, and
the Graceful Restart helper timers. Sans-IO, standard library only."""

from bgpd.rib.adj_in import AdjRibIn, PathInfo
from bgpd.rib.decision import best_path, prefer, rank, select
from bgpd.rib.graceful import DEFAULT_STALE_TIME, GracefulRestartTracker
from bgpd.rib.loc_rib import LocRib
from bgpd.rib.routes import Candidate, CandidateCache, ChangeGroup, RouteChange
from bgpd.rib.source import Source, SourceKind

__all__ = [
    "DEFAULT_STALE_TIME",
    "AdjRibIn",
    "Candidate",
    "CandidateCache",
    "ChangeGroup",
    "GracefulRestartTracker",
    "LocRib",
    "PathInfo",
    "RouteChange",
    "Source",
    "SourceKind",
    "best_path",
    "prefer",
    "rank",
    "select",
]

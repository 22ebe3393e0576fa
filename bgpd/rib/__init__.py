"""Routing information bases: Adj-RIB-In per peer (Loc-RIB and decision process follow)."""

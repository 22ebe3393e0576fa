"""Outbound: Adj-RIB-Out, coalescing and UPDATE packing (update groups follow)."""

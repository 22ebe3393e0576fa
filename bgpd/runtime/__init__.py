"""The asyncio edge: sockets, timers and signals around the sans-IO speaker."""

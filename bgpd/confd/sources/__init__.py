"""Datastore sources for bgpd confd: etcd v3 (`EtcdSource`) and a YAML/TOML file (`FileSource`).

Role: turn a datastore into a stream of immutable `KvSnapshot`s (see `base`). The etcd adapter
(`bgpd.confd.sources.etcd`) is the only module that imports the etcd client; importing this
package does not import it, so the file source works without grpc being loaded.
"""

from __future__ import annotations

from bgpd.confd.sources.base import KvSnapshot, Source, SourceError, SourceStatus, freeze_values
from bgpd.confd.sources.file import FileSource, FileSourceError, parse_kv_file

__all__ = [
    "FileSource",
    "FileSourceError",
    "KvSnapshot",
    "Source",
    "SourceError",
    "SourceStatus",
    "freeze_values",
    "parse_kv_file",
]

"""Configuration: the frozen schema of `bgpd.toml`, its loader, renderer and reload diff.

Role: the one place configuration is defined and validated (stdlib only; sans-IO apart from
`load_config` reading one file).

Invariants: a `Config` is valid by construction; every problem in a rejected file is reported
at once as a `ConfigError` whose problems carry key-path locations.
"""

from bgpd.config.bfd_section import BfdSection, PeerBfd
from bgpd.config.calico import (
    CalicoSection,
    ClusterNode,
    EncapMode,
    KernelSection,
    Labels,
    MeshSection,
    NodeSection,
    Pool,
    PrefixAdvertisement,
)
from bgpd.config.diff import ConfigDiff, diff_configs
from bgpd.config.loader import load_config, parse_config, read_config_text
from bgpd.config.peer import (
    AddPathMode,
    DynamicNeighbors,
    NextHopMode,
    PeerConfig,
    PeerSettings,
)
from bgpd.config.schema import (
    BgpSection,
    Community,
    Config,
    ControlSection,
    IPAddress,
    IPNetwork,
    LargeCommunity,
    ListenAddress,
    LogFormat,
    LogLevel,
    MetricsSection,
    StaticRoute,
)
from bgpd.config.toml_writer import MASK, render_config_toml
from bgpd.errors import ConfigError, ConfigProblem

__all__ = [
    "BfdSection",
    "PeerBfd",
    "MASK",
    "AddPathMode",
    "BgpSection",
    "CalicoSection",
    "ClusterNode",
    "Community",
    "Config",
    "ConfigDiff",
    "ConfigError",
    "ConfigProblem",
    "ControlSection",
    "DynamicNeighbors",
    "EncapMode",
    "IPAddress",
    "IPNetwork",
    "KernelSection",
    "LargeCommunity",
    "Labels",
    "ListenAddress",
    "LogFormat",
    "LogLevel",
    "MeshSection",
    "MetricsSection",
    "NextHopMode",
    "NodeSection",
    "PeerConfig",
    "PeerSettings",
    "Pool",
    "PrefixAdvertisement",
    "StaticRoute",
    "diff_configs",
    "load_config",
    "parse_config",
    "read_config_text",
    "render_config_toml",
]

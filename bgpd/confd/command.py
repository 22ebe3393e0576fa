"""`bgpd confd`: the watcher as its own process, and the pieces `bgpd run` uses in-process.

Role: read calico-node's environment (NODENAME, DATASTORE_TYPE, ETCD_*, KUBECONFIG,
KUBERNETES_SERVICE_HOST/PORT, NAMESPACE, USE_POD_CIDR, CALICO_API_GROUP, CALICO_ROUTER_ID,
AS, IP, IP6, IP_AUTODETECTION_METHOD, IP6_AUTODETECTION_METHOD, CALICO_ADVERTISE_CLUSTER_IPS,
CALICO_K8S_NODE_REF, CALICO_ENDPOINT_STATUS_PATH_PREFIX) and the command line, build
the source (the datastore's, merged with Felix's endpoint status files), the model step and
the renderer, and run the `Watcher` (or one pass, `--onetime`).

Invariants:
- Node-local values calico-node's startup would have written into the Node resource (AS, IP,
  IP6, autodetected addresses) are applied to this node's keys of the view only; bgpd confd
  never writes to the datastore, so other nodes see the datastore's values.
- Autodetection runs at most once per process per family (calico-node also detects at start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bgpd.confd.arguments import DEFAULT_CONFDIR, add_confd_arguments
from bgpd.confd.calico_node import BGP_V1
from bgpd.confd.pidfile import signal_pidfile
from bgpd.confd.render_pass import (
    CHECK_BGPD_CONFIG,
    Outcome,
    Renderer,
    ResourceError,
    TemplateResource,
    describe_error,
    load_resources,
)
from bgpd.confd.sources.base import Source, SourceError, SourceUnreadableError
from bgpd.confd.sources.file import FileSource
from bgpd.confd.template_inputs import DataError, TemplateContext
from bgpd.confd.watcher import (
    DEFAULT_MAX_DELAY_S,
    ReloadHook,
    Watcher,
    WatcherStatus,
)
from bgpd.errors import BgpdError
from bgpd.logs import setup_logging
from bgpd.text import escape_controls

if TYPE_CHECKING:
    from bgpd.confd.model import DeriveCache
    from bgpd.confd.model.refusals import RefusalTracker

__all__ = [
    "DEFAULT_CONFDIR",
    "EXIT_WATCHER_STOPPED",
    "ConfdSetupError",
    "LocalNode",
    "add_confd_arguments",
    "build_watcher",
    "derive_view",
    "main",
    "nodename_from_env",
    "run_confd",
]

logger = logging.getLogger(__name__)

NODENAME_FILE = Path("/var/lib/calico/nodename")
# `bgpd confd` exits with this when its watcher stopped (a failed or ended source, a bug): a
# watcher that no longer follows the datastore must not look alive, so the supervisor (runit,
# kubelet) restarts it. 2 is a setup error.
EXIT_WATCHER_STOPPED = 1


class ConfdSetupError(BgpdError):
    """The watcher cannot be set up (bad arguments, environment or template resources)."""


# ------------------------------------------------------------------------ node-local values


def nodename_from_env(environ: Mapping[str, str]) -> str:
    """calico-node's order: NODENAME, the nodename file, HOSTNAME, the host name."""
    name = environ.get("NODENAME", "").strip()
    if name:
        return name
    try:
        name = NODENAME_FILE.read_text().strip()
    except OSError:
        name = ""
    return name or environ.get("HOSTNAME", "").strip() or socket.gethostname().lower()


Autodetect = Callable[[int, str], str | None]


def _autodetect(version: int, method: str) -> str | None:
    # Imported on use: autodetection reads the host's interfaces, only needed without IP.
    from bgpd.confd.autodetect import AutodetectError, autodetect  # noqa: PLC0415

    var = "IP6_AUTODETECTION_METHOD" if version == 6 else "IP_AUTODETECTION_METHOD"
    try:
        return autodetect(method, version).cidr
    except AutodetectError as exc:
        raise DataError(f"environment {var}", str(exc)) from exc


@dataclass(slots=True, kw_only=True)
class LocalNode:
    """This node's AS / IP / IP6 from the environment, applied over the datastore's view.

    IP: unset = the datastore's address, autodetected when it has none; `autodetect` = always
    autodetect; `none` = no IPv4; else `ADDRESS[/LENGTH]`. IP6 the same, except that unset
    means the datastore's address only (calico-node autodetects IPv6 only when asked).
    """

    nodename: str
    asn: str | None = None
    ip: str | None = None
    ip6: str | None = None
    method4: str = "first-found"
    method6: str = "first-found"
    # Service advertisement (routes.go, client.go): the Kubernetes node name endpoints carry,
    # and the cluster-IP CIDR that replaces BGPConfiguration serviceClusterIPs.
    k8s_node_ref: str | None = None
    advertise_cluster_ips: str = ""
    # calico-node's NAMESPACE: where the BGP password Secrets are read (the Kubernetes source
    # publishes them under it).
    namespace: str = "kube-system"
    autodetect: Autodetect = _autodetect
    _detected: dict[int, str | None] = field(default_factory=dict)

    @classmethod
    def from_env(cls, nodename: str, environ: Mapping[str, str]) -> LocalNode:
        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        return cls(
            nodename=nodename,
            asn=get("AS"),
            ip=get("IP"),
            ip6=get("IP6"),
            method4=get("IP_AUTODETECTION_METHOD") or "first-found",
            method6=get("IP6_AUTODETECTION_METHOD") or "first-found",
            k8s_node_ref=get("CALICO_K8S_NODE_REF"),
            advertise_cluster_ips=get("CALICO_ADVERTISE_CLUSTER_IPS") or "",
            namespace=get("NAMESPACE") or "kube-system",
        )

    def _detect(self, version: int) -> str:
        if version not in self._detected:
            method = self.method4 if version == 4 else self.method6
            self._detected[version] = self.autodetect(version, method)
            logger.info(
                "autodetected address version=%d address=%s method=%s",
                version,
                self._detected[version],
                method,
            )
        found = self._detected[version]
        if not found:
            var = "IP_AUTODETECTION_METHOD" if version == 4 else "IP6_AUTODETECTION_METHOD"
            method = self.method4 if version == 4 else self.method6
            raise DataError(f"environment {var}", f"no IPv{version} address found by {method}")
        return found

    def apply(self, view: Mapping[str, str]) -> dict[str, str]:
        out = dict(view)
        host = f"/calico{BGP_V1}/host/{self.nodename}"
        for version, setting in ((4, self.ip), (6, self.ip6)):
            ip_key, net_key = f"{host}/ip_addr_v{version}", f"{host}/network_v{version}"
            value = setting
            if value is None:
                if version == 6 or out.get(ip_key, "").strip():
                    continue
                value = "autodetect"
            if value.lower() == "none":
                out[ip_key], out[net_key] = "", ""
                continue
            env_name = "IP" if version == 4 else "IP6"
            text = self._detect(version) if value.lower() == "autodetect" else value
            try:
                iface = ipaddress.ip_interface(text)
            except ValueError:
                raise DataError(f"environment {env_name}", f"invalid address {text!r}") from None
            if iface.version != version:
                raise DataError(f"environment {env_name}", f"{text!r} is not IPv{version}")
            out[ip_key] = str(iface.ip)
            out[net_key] = str(iface.network) if "/" in text else ""
        if self.asn is not None:
            out[f"{host}/as_num"] = self.asn
        if any(k.startswith(host + "/") for k in out):
            for version in (4, 6):
                out.setdefault(f"{host}/ip_addr_v{version}", "")
            out.setdefault(f"{host}/rr_cluster_id", "")
        return out


def derive_view(
    values: Mapping[str, str], local: LocalNode | None = None, cache: DeriveCache | None = None
) -> dict[str, str]:
    """The key view the templates read: the model's (v3 resources -> `/calico/bgp/v1` keys,
    v1 keys passed through) with this node's environment overrides applied. `cache` keeps
    the parsed resources between the calls of one watcher (see `bgpd.confd.model.snapshot`)."""
    # Imported on use, so `bgpd run` without the watcher does not load the model.
    from bgpd.confd.model import derive_bgp_keys  # noqa: PLC0415

    if local is None:
        return derive_bgp_keys(values, cache=cache)
    view = derive_bgp_keys(
        values,
        namespace=local.namespace,
        node_name=local.nodename,
        k8s_node_ref=local.k8s_node_ref,
        advertise_cluster_ips=local.advertise_cluster_ips,
        cache=cache,
    )
    return local.apply(view)


# ------------------------------------------------------------------------ arguments


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfdSetup:
    watcher: Watcher
    resources: tuple[TemplateResource, ...]
    datastores: tuple[tuple[str, Source], ...] = ()  # ("etcd" | "kubernetes", its source)
    refusals: RefusalTracker | None = None  # the fields the datastore sets that bgpd refuses

    @property
    def config_path(self) -> Path | None:
        """Destination of the resource checked as a bgpd config (the speaker's file)."""
        for r in self.resources:
            if r.check == CHECK_BGPD_CONFIG:
                return r.dest
        return None


def _source(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[Source, tuple[tuple[str, Source], ...]]:
    """The watcher's source and the datastores behind it (for the connected metrics)."""
    backend = args.confd_backend
    datastore = environ.get("DATASTORE_TYPE", "").strip()
    if backend is None:
        backend = "kubernetes" if datastore == "kubernetes" else "etcd"
    if backend == "kubernetes":
        if datastore and datastore != "kubernetes":
            raise ConfdSetupError(f"DATASTORE_TYPE={datastore} contradicts --backend kubernetes")
        # Imported here: only these backends need the HTTP client (aiohttp).
        from bgpd.confd.sources.kube_config import KubeSettings  # noqa: PLC0415
        from bgpd.confd.sources.kubernetes import KubernetesSource  # noqa: PLC0415

        kube = KubernetesSource(KubeSettings.from_env(environ))
        return kube, (("kubernetes", kube),)
    if backend == "etcd":
        if datastore and datastore != "etcdv3":
            raise ConfdSetupError(
                f"DATASTORE_TYPE={datastore} is not supported with --backend etcd "
                "(etcdv3, or kubernetes with --backend kubernetes)"
            )
        # Imported here: only the etcd backend needs the etcd client (grpc, protobuf).
        from bgpd.confd.sources.etcd import EtcdSettings, EtcdSource  # noqa: PLC0415

        etcd = EtcdSource(EtcdSettings.from_env(environ))
        return _with_kubernetes(args, environ, etcd)
    if not args.confd_file:
        raise ConfdSetupError("--backend file needs --file PATH")
    return FileSource(Path(args.confd_file)), ()


def endpoint_status_prefix(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """Where Felix's endpoint status files are (client.go: CALICO_ENDPOINT_STATUS_PATH_PREFIX,
    else /var/run/calico); None when `--endpoint-status-prefix none` turns them off."""
    from bgpd.confd.sources.endpoint_status import DEFAULT_PREFIX, PREFIX_ENV  # noqa: PLC0415

    chosen = getattr(args, "confd_endpoint_status_prefix", None)
    if chosen is None:
        chosen = environ.get(PREFIX_ENV, "").strip() or DEFAULT_PREFIX
    return None if chosen.strip().lower() == "none" else chosen


def _with_endpoint_status(
    args: argparse.Namespace, environ: Mapping[str, str], datastore: Source
) -> Source:
    """The datastore's source merged with this node's endpoint status files, as calico-node's
    confd always reads them beside the datastore (local_bgp_peer_watcher.go)."""
    prefix = endpoint_status_prefix(args, environ)
    if prefix is None:
        logger.info("confd endpoint_status=off")
        return datastore
    from bgpd.confd.sources.composite import CompositeSource  # noqa: PLC0415
    from bgpd.confd.sources.endpoint_status import (  # noqa: PLC0415
        EndpointStatusSource,
        status_directory,
    )

    directory = status_directory(prefix)
    logger.info("confd endpoint_status=%s", directory)
    return CompositeSource(datastore, EndpointStatusSource(directory))


def _with_kubernetes(
    args: argparse.Namespace, environ: Mapping[str, str], etcd: Source
) -> tuple[Source, tuple[tuple[str, Source], ...]]:
    """etcd alone, or etcd + the Kubernetes API's Services, EndpointSlices and password
    Secrets (`--kubernetes`: auto = when calico-node's Kubernetes credentials are there)."""
    from bgpd.confd.sources.kube_config import (  # noqa: PLC0415
        KubeSettings,
        kube_credentials_available,
    )

    mode = getattr(args, "confd_kubernetes", "auto")
    if mode == "no" or (mode == "auto" and not kube_credentials_available(environ)):
        return etcd, (("etcd", etcd),)
    from bgpd.confd.sources.composite import CompositeSource  # noqa: PLC0415
    from bgpd.confd.sources.kube_objects import secret_names_in  # noqa: PLC0415
    from bgpd.confd.sources.kubernetes import KubernetesSource, KubeScope  # noqa: PLC0415

    kube = KubernetesSource(KubeSettings.from_env(environ), KubeScope.SERVICES)
    logger.info("confd kubernetes=services server=%s", kube.settings.server)
    merged = CompositeSource(
        etcd, kube, follow_primary=lambda values: kube.set_secret_names(secret_names_in(values))
    )
    return merged, (("etcd", etcd), ("kubernetes", kube))


def build_watcher(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    dest_root: Path | None = None,
    config_dest: Path | None = None,
    reload: ReloadHook | None = None,
) -> ConfdSetup:
    """The watcher for these arguments; `config_dest` replaces the bgpd config's dest."""
    nodename = nodename_from_env(environ)
    try:
        resources = load_resources(args.confdir, nodename, dest_root)
    except ResourceError as exc:
        raise ConfdSetupError(str(exc)) from exc
    if config_dest is not None:
        resources = [
            _with_dest(r, config_dest) if r.check == CHECK_BGPD_CONFIG else r for r in resources
        ]
    ctx = TemplateContext(
        nodename=nodename, environ=dict(environ), variables=dict(args.template_vars)
    )
    local = LocalNode.from_env(nodename, environ)
    try:
        source, datastores = _source(args, environ)
        source = _with_endpoint_status(args, environ, source)
    except SourceError as exc:
        raise ConfdSetupError(str(exc)) from exc
    from bgpd.confd.model import new_derive_cache  # noqa: PLC0415 - only with a watcher
    from bgpd.confd.model.refusals import RefusalTracker  # noqa: PLC0415

    cache = new_derive_cache()
    refusals = RefusalTracker()

    def derive(values: Mapping[str, str]) -> dict[str, str]:
        try:
            return derive_view(values, local, cache)
        finally:  # the resources were read even when the data is refused
            report_refusals(refusals, cache)

    watcher = Watcher(
        source,
        Renderer(args.confdir, resources, ctx),
        derive,
        reload=reload,
        quiet_s=args.debounce,
        max_delay_s=max(DEFAULT_MAX_DELAY_S, args.debounce),
    )
    logger.info(
        "confd started node=%s resources=%d confdir=%s",
        nodename,
        len(resources),
        args.confdir,
    )
    return ConfdSetup(
        watcher=watcher,
        resources=tuple(resources),
        datastores=datastores,
        refusals=refusals,
    )


def report_refusals(tracker: RefusalTracker, cache: DeriveCache) -> None:
    """Warn once for each (resource, field) bgpd refuses that the last snapshot did not set."""
    for r in tracker.update(cache.state.refusals):
        logger.warning(
            "confd.unsupported_field kind=%s name=%s field=%s reason=%s",
            r.kind,
            r.name,
            r.field,
            r.reason,
        )


def _with_dest(resource: TemplateResource, dest: Path) -> TemplateResource:
    from dataclasses import replace  # noqa: PLC0415

    return replace(resource, dest=dest)


# ------------------------------------------------------------------------ `bgpd confd`


async def run_confd(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    reload = signal_pidfile(args.pidfile_to_signal) if args.pidfile_to_signal else None
    setup = build_watcher(args, environ, dest_root=args.dest_root, reload=reload)
    watcher = setup.watcher
    try:
        if args.onetime:
            try:
                results = await watcher.run_once()
            except SourceUnreadableError as exc:
                print(f"bgpd confd: cannot read the datastore: {exc}", file=sys.stderr)
                return 1
            bad = [r for r in results if r.outcome in (Outcome.RENDER_FAILED, Outcome.CHECK_FAILED)]
            for r in results:
                print(f"{r.resource.dest}: {r.outcome.value}" + (f": {r.error}" if r.error else ""))
            # Refused fields do not fail the render (the resource is used without them, a
            # refused BGPFilter rejects instead); they are named, one line each.
            for refusal in setup.refusals.current() if setup.refusals is not None else ():
                name = escape_controls(refusal.name)  # from a datastore key
                print(f"unsupported field: {refusal.kind} {name} {refusal.field}: {refusal.reason}")
            return 1 if bad else 0
        # SIGTERM (runit's `sv stop`, kubelet) ends the loop cleanly: the source is closed and
        # the installed files stay as they are for the speaker.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await watcher.run()
        except asyncio.CancelledError:
            logger.info("confd stopping")
            return 0
        except Exception:
            logger.exception("confd watcher stopped, exiting so that it is restarted")
            return EXIT_WATCHER_STOPPED
        logger.error("confd watcher stopped, exiting so that it is restarted error=ended")
        return EXIT_WATCHER_STOPPED
    finally:
        await watcher.close()


def main(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Entry of `bgpd confd` (called by bgpd.main with the parsed arguments)."""
    env = dict(os.environ if environ is None else environ)
    setup_logging(args.log_level, args.log_format)
    try:
        return asyncio.run(run_confd(args, env))
    except ConfdSetupError as exc:
        logger.error("confd failed error=%s", exc)
        return 2
    except KeyboardInterrupt:
        return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bgpd confd")
    add_confd_arguments(p)
    return p.parse_args(argv)


# ------------------------------------------------------------------------ `bgpd run`, in-process


class InProcessWatcher:
    """The watcher as the speaker's companion (`bgpd.runtime.daemon.Companion`).

    `prepare` starts the render loop and returns once the config file is in place; `run`
    hands the daemon's reload to the watcher and waits on the loop; `close` stops it.
    """

    __slots__ = ("_setup", "_task")

    def __init__(self, setup: ConfdSetup) -> None:
        self._setup = setup
        self._task: asyncio.Task[None] | None = None

    @property
    def watcher(self) -> Watcher:
        return self._setup.watcher

    def status(self) -> WatcherStatus:
        """The watcher's counters and its source's status (for the metrics edge)."""
        return self._setup.watcher.status()

    def metrics_status(self) -> tuple[int, int, int, tuple[tuple[str, bool], ...]]:
        """(renders, render failures, check failures, (datastore, connected) pairs; none for
        a file)."""
        s = self.status()
        stores = tuple((name, src.status().connected) for name, src in self._setup.datastores)
        return s.renders_total, s.render_failures_total, s.check_failures_total, stores

    def unsupported_fields(self) -> tuple[tuple[str, str, int], ...]:
        """(kind, field, resources setting it): the fields bgpd refuses (for the metrics)."""
        tracker = self._setup.refusals
        return tracker.counts() if tracker is not None else ()

    async def prepare(self) -> None:
        watcher = self._setup.watcher
        self._task = asyncio.create_task(watcher.run(), name="confd-watcher")
        ready = asyncio.create_task(watcher.wait_ready())
        logger.info("confd waiting for=first_good_render")
        done, _ = await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            error = "ended"
            if not self._task.cancelled() and (exc := self._task.exception()) is not None:
                logger.error("confd watcher stopped before a first render", exc_info=exc)
                error = describe_error(exc)
            raise ConfdSetupError(f"the confd watcher stopped before a first render: {error}")

    async def run(self, reload: Callable[[], bool]) -> None:
        assert self._task is not None
        self._setup.watcher.set_reload(reload)
        await self._task

    async def close(self) -> None:
        # A task that already ended has had its error reported (prepare, or the daemon that
        # awaited `run`); awaiting it again would raise that error over the one in flight.
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._setup.watcher.close()


def in_process(args: argparse.Namespace, environ: Mapping[str, str]) -> InProcessWatcher:
    """The companion for `bgpd run --confd-backend ...`: renders the bgpd config into
    `args.config` (the file the speaker reads) and reloads the speaker in-process."""
    setup = build_watcher(args, environ, config_dest=Path(args.config))
    return InProcessWatcher(setup)

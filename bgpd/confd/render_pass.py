"""Template resources (`conf.d/*.toml`) and one render pass with confd's guarantees.

Role: turn a key view into installed files. For each template resource: pick the keys it
declared (relative to its prefix, `//NODENAME` expanded), render its jinja2 template, stage the
result in a temp file **in the destination directory**, check it (bgpd's own config loader
and/or `check_cmd`), and `rename` it over the destination, only when the content or mode
changed. The caller is told which destinations changed, so it reloads only then.

Invariants:
- A destination is only ever replaced by an atomic rename of a fully written, checked file;
  a failed render or check leaves it exactly as it was, and removes the staged file.
- An unchanged render touches nothing (no write, no rename, no reload).
- Unlike confd, a first render that fails its check is not installed either: bgpd would
  refuse the file anyway, and an absent file is clearer than a broken one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import jinja2

from bgpd.confd.template_env import make_environment, template_globals
from bgpd.confd.template_inputs import DataError, KvStore, TemplateContext
from bgpd.config import parse_config
from bgpd.config.toml_positions import positioned, syntax_problem
from bgpd.errors import BgpdError, ConfigError, ConfigProblem, os_error_text
from bgpd.fs import make_directories
from bgpd.text import escape_controls

__all__ = [
    "CHECK_BGPD_CONFIG",
    "DEFAULT_MODE",
    "Outcome",
    "RenderResult",
    "Renderer",
    "ResourceError",
    "TemplateResource",
    "describe_error",
    "expand_nodename",
    "load_resources",
]

logger = logging.getLogger(__name__)

CHECK_BGPD_CONFIG = "bgpd-config"
CHECK_CMD_TIMEOUT_S = 30.0
# The speaker's config holds the peers' MD5 passwords: owner-only unless a resource says
# otherwise, and never readable by every user (see _resource).
DEFAULT_MODE = 0o600


class ResourceError(BgpdError):
    """A template resource file that cannot be used (bad TOML, missing keys...)."""


def describe_error(exc: BaseException) -> str:
    """One log-safe line for an error: the first problem with its key, and a count.

    Works for `ConfigError` (and so the model's `CalicoDataError` and the template
    inputs' `DataError`: `problems`, each with `location` and `message`) and anything else. The
    text comes from the datastore: runs of white space become one space, and any other control
    character, or one UTF-8 cannot carry (a lone surrogate), is shown escaped (`bgpd.text`), so
    the line can always be logged and printed (`bgpd confd --onetime`) as one line."""
    problems = getattr(exc, "problems", None)
    if problems:
        first = problems[0]
        where = getattr(first, "location", "?")
        text = f"{where}: {getattr(first, 'message', first)}"
        if len(problems) > 1:
            text += f" (and {len(problems) - 1} more problems)"
    else:
        text = str(exc) or type(exc).__name__
    return escape_controls(" ".join(text.split()))


def expand_nodename(key: str, nodename: str) -> str:
    """confd's `expandKeys` for Calico: the literal `//NODENAME` becomes `/<nodename>`."""
    return key.replace("//NODENAME", "/" + nodename)


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateResource:
    """One `conf.d/*.toml` `[template]` table, with paths resolved."""

    name: str  # the conf.d file name, for logs
    src: Path  # template file, relative to the templates dir
    dest: Path
    prefix: str
    keys: tuple[str, ...]  # NODENAME already expanded
    mode: int
    check: str | None  # CHECK_BGPD_CONFIG: parse with bgpd's loader
    check_cmd: str | None
    reload_cmd: str | None


def _resource(path: Path, nodename: str, dest_root: Path | None) -> TemplateResource:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ResourceError(f"{path}: {os_error_text(exc, about=str(path))}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ResourceError(str(syntax_problem(str(exc), text, str(path)))) from exc
    table = data.get("template")
    if not isinstance(table, dict):
        raise ResourceError(f"{path}:1:1: no [template] table")
    problems: list[ConfigProblem] = []

    def add(key: str, message: str) -> None:
        problems.append(ConfigProblem(location=f"template.{key}", message=message))

    for required in ("src", "dest"):
        if not isinstance(table.get(required), str) or not table[required]:
            add(required, f"{required} is required (a string)")
    keys = table.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        add("keys", "keys must be a list of strings")
    mode_raw = table.get("mode", f"{DEFAULT_MODE:04o}")
    try:
        mode = int(str(mode_raw), 8)
    except ValueError:
        add("mode", f"mode {mode_raw!r} is not octal")
        mode = DEFAULT_MODE
    if not 0 <= mode <= 0o7777:
        add("mode", f"mode {mode_raw!r} is not a file mode (0000..7777)")
        mode = DEFAULT_MODE
    check = table.get("check")
    if check not in (None, CHECK_BGPD_CONFIG):
        add("check", f'check must be "{CHECK_BGPD_CONFIG}" when set')
    if check == CHECK_BGPD_CONFIG and mode & 0o007:
        # The speaker's config carries the peers' MD5 passwords (Secrets in Calico).
        add(
            "mode",
            f"mode {mode_raw!r} lets every user read the BGP passwords in the bgpd config; "
            'use "0600" (or "0640" for a group)',
        )
    if problems:
        # each at FILE:LINE:COL of its key (a missing one: the [template] header), as bgpd.toml's
        located = positioned(problems, text, str(path))
        located.sort(key=lambda p: [int(n) for n in p.at.rsplit(":", 2)[1:]])
        raise ResourceError("; ".join(str(p) for p in located))
    dest = Path(table["dest"])
    if dest_root is not None:
        dest = dest_root / dest.relative_to(dest.anchor)
    return TemplateResource(
        name=path.name,
        src=Path(table["src"]),
        dest=dest,
        prefix=str(table.get("prefix", "")),
        keys=tuple(expand_nodename(k, nodename) for k in keys),
        mode=mode,
        check=check,
        check_cmd=table.get("check_cmd") or None,
        reload_cmd=table.get("reload_cmd") or None,
    )


def load_resources(
    confdir: Path, nodename: str, dest_root: Path | None = None
) -> list[TemplateResource]:
    """Every `confdir/conf.d/*.toml`, in name order. `dest_root` relocates destinations."""
    files = sorted((confdir / "conf.d").glob("*.toml"))
    if not files:
        raise ResourceError(f"{confdir}/conf.d: no template resources (*.toml)")
    return [_resource(f, nodename, dest_root) for f in files]


class Outcome(Enum):
    UNCHANGED = "unchanged"
    INSTALLED = "installed"
    RENDER_FAILED = "render_failed"  # bad data or a template error
    CHECK_FAILED = "check_failed"  # rendered, but the check refused it


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderResult:
    resource: TemplateResource
    outcome: Outcome
    error: str | None = None  # one line, naming the key or the config location


def _run(cmd: str, src: Path) -> subprocess.CompletedProcess[str]:
    # confd substitutes {{.src}} (the staged file) in check_cmd and runs it through a shell.
    line = cmd.replace("{{.src}}", shlex.quote(str(src)))
    return subprocess.run(
        ["/bin/sh", "-c", line],
        capture_output=True,
        text=True,
        timeout=CHECK_CMD_TIMEOUT_S,
        check=False,
    )


class Renderer:
    """Renders every template resource from a key view; `render_all` is one pass."""

    __slots__ = ("_ctx", "_env", "resources")

    def __init__(
        self, confdir: Path, resources: Sequence[TemplateResource], ctx: TemplateContext
    ) -> None:
        self.resources = tuple(resources)
        self._ctx = ctx
        self._env = make_environment(confdir / "templates")

    def render_text(self, resource: TemplateResource, view: Mapping[str, str]) -> str:
        """The rendered text of one resource (raises DataError or jinja2 errors)."""
        store = KvStore.for_resource(view, resource.prefix, resource.keys)
        template = self._env.get_template(str(resource.src))
        try:
            return template.render(template_globals(store, self._ctx))
        except DataError as exc:
            if not exc.key.startswith("/"):
                raise  # an environment variable or --var, not a datastore key
            # Templates see keys relative to the prefix; the operator needs the full key.
            raise DataError(resource.prefix.rstrip("/") + exc.key, exc.message) from None

    def render_all(self, view: Mapping[str, str]) -> list[RenderResult]:
        return [self.render_one(r, view) for r in self.resources]

    def render_one(self, resource: TemplateResource, view: Mapping[str, str]) -> RenderResult:
        try:
            text = self.render_text(resource, view)
        except DataError as exc:
            error = describe_error(exc)
            return RenderResult(resource=resource, outcome=Outcome.RENDER_FAILED, error=error)
        except jinja2.TemplateError as exc:
            where = f"{resource.src}" + (
                f":{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
            )
            error = f"template {where}: {describe_error(exc)}"
            return RenderResult(resource=resource, outcome=Outcome.RENDER_FAILED, error=error)
        return self.install(resource, text)

    def install(self, resource: TemplateResource, text: str) -> RenderResult:
        """Stage, compare, check and atomically install `text` at the resource's dest."""
        dest = resource.dest
        try:
            data = text.encode()
        except UnicodeEncodeError as exc:
            # A lone surrogate the model did not see: from the environment or a --var.
            line = text.count("\n", 0, exc.start) + 1
            error = f"rendered {dest} line {line} holds a character UTF-8 cannot encode"
            return RenderResult(resource=resource, outcome=Outcome.RENDER_FAILED, error=error)
        try:
            return self._stage(resource, text, data)
        except OSError as exc:  # a full disk, a read-only or missing folder: the old file stays
            error = f"cannot install {dest}: {os_error_text(exc, about=str(dest))}"
            return RenderResult(resource=resource, outcome=Outcome.RENDER_FAILED, error=error)

    def _stage(self, resource: TemplateResource, text: str, data: bytes) -> RenderResult:
        dest = resource.dest
        if _same(dest, data, resource.mode):
            return RenderResult(resource=resource, outcome=Outcome.UNCHANGED)
        make_directories(dest.parent)
        # Staged next to the destination so that the rename is atomic (same filesystem);
        # mkstemp creates it 0600, so it is never more readable than the final mode allows.
        fd, staged_name = tempfile.mkstemp(prefix=f".{dest.name}", dir=dest.parent)
        staged = Path(staged_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(staged, resource.mode)
            error = self._check(resource, staged, text)
            if error is not None:
                return RenderResult(resource=resource, outcome=Outcome.CHECK_FAILED, error=error)
            os.replace(staged, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
        return RenderResult(resource=resource, outcome=Outcome.INSTALLED)

    def _check(self, resource: TemplateResource, staged: Path, text: str) -> str | None:
        if resource.check == CHECK_BGPD_CONFIG:
            try:
                parse_config(text, source=str(resource.dest))
            except ConfigError as exc:
                return f"rendered {resource.dest} rejected: {describe_error(exc)}"
        if resource.check_cmd:
            try:
                done = _run(resource.check_cmd, staged)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"check_cmd failed to run: {describe_error(exc)}"
            if done.returncode != 0:
                output = describe_error(Exception(done.stderr or done.stdout))
                return f"check_cmd exited {done.returncode}: {output}"
        return None

    @staticmethod
    def run_reload_cmd(resource: TemplateResource) -> str | None:
        """Run the resource's reload_cmd, if any; returns an error line or None."""
        if not resource.reload_cmd:
            return None
        try:
            done = _run(resource.reload_cmd, resource.dest)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"reload_cmd failed to run: {describe_error(exc)}"
        if done.returncode != 0:
            return f"reload_cmd exited {done.returncode}: {describe_error(Exception(done.stderr))}"
        return None


def _same(dest: Path, data: bytes, mode: int) -> bool:
    try:
        st = dest.stat()
        if (st.st_mode & 0o7777) != mode or st.st_size != len(data):
            return False
        return dest.read_bytes() == data
    except FileNotFoundError:
        return False

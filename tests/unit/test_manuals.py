"""Shell completion and manual pages of bgpd, bgpctl and bgp-reflector (issue 17, point 8):
the files shipped in bgpd/share/ are what the generators make from the parsers today (else
`make manuals`), the commands print them without the generators installed, the bash script
loads in a real bash and completes subcommands and options, and each page renders with man and
groff without a warning."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bgpd.main import main
from bgpd.manuals import (
    PROGRAMS,
    SHARE,
    SHELLS,
    completion,
    completion_path,
    manpage,
    manpage_path,
    parser_of,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "bgpd" / SHARE
GENERATORS = ("shtab", "argparse_manpage", "argparse_manpage.manpage")


def make_manuals() -> ModuleType:
    """scripts/make_manuals.py, the generator behind `make manuals`."""
    spec = importlib.util.spec_from_file_location("make_manuals", REPO / "scripts/make_manuals.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_files_are_what_the_parsers_make_today() -> None:
    generated: dict[str, str] = make_manuals().generated()
    shipped = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*") if p.is_file()}
    assert shipped == set(generated), "run `make manuals`: the set of files changed"
    stale = [name for name, text in generated.items() if (SHIPPED / name).read_text() != text]
    assert stale == [], f"run `make manuals`: {stale} no longer match the parsers"
    assert len(generated) == len(PROGRAMS) * (1 + len(SHELLS))


def test_the_commands_print_the_shipped_files_without_the_generators(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in GENERATORS:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import fails
    assert main(["completion", "bash", "bgpctl", "bgpd"]) == 0
    files = [SHIPPED / completion_path("bash", p) for p in ("bgpctl", "bgpd")]
    assert capsys.readouterr().out == "".join(f.read_text() for f in files)
    for program in PROGRAMS:
        assert main(["manpage", program]) == 0
        assert capsys.readouterr().out == (SHIPPED / manpage_path(program)).read_text()


def bgpd(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bgpd", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def complete_in_bash(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of `words` with the script sourced (as TAB would)."""
    line = " ".join(words)
    program = words[0]
    cmd = f"""
set -e
source {script}
COMP_WORDS=({line})
COMP_CWORD={len(words) - 1}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
spec=$(complete -p {program})
fn=$(printf '%s' "$spec" | sed -E 's/.* -F ([^ ]+) .*/\\1/')
"$fn" {program} "{words[-1]}" "{words[-2] if len(words) > 1 else ""}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", cmd],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [w.strip() for w in done.stdout.splitlines() if w.strip()]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "bgpd.bash"
    path.write_text(bgpd("completion", "bash"))  # the installed command's output, all three
    return path


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (("bgpd", "co"), {"completion", "confd"}),
        (("bgpd", "check", "--c"), {"--config"}),
        (("bgpctl", "sh"), {"show"}),
        (("bgpctl", "show", "pe"), {"peers", "peer"}),
        (("bgp-reflector", "r"), {"run"}),
    ],
)
def test_the_bash_script_completes_subcommands_and_options(
    bash_script: Path, words: tuple[str, ...], offered: set[str]
) -> None:
    assert set(complete_in_bash(bash_script, *words)) == offered


def test_completion_for_each_shell_names_every_program() -> None:
    for shell in SHELLS:
        script = completion(shell)
        for program in PROGRAMS:
            assert program in script, (shell, program)
    assert "_shtab_bgpctl" not in completion("bash", ("bgpd",))


def test_an_unknown_program_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["completion", "bash", "bgpcl"])
    assert info.value.code == 2
    assert "unknown program 'bgpcl'" in capsys.readouterr().err


@pytest.mark.parametrize("program", PROGRAMS)
def test_each_manual_page_renders_with_man_and_groff(program: str, tmp_path: Path) -> None:
    page = tmp_path / f"{program}.1"
    page.write_text(bgpd("manpage", program))
    groff = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert groff.stderr == ""  # -ww: every warning on
    assert shutil.which("man") is not None
    env = {**os.environ, "MANPAGER": "cat", "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""}
    shown = subprocess.run(
        ["man", "-l", str(page)], capture_output=True, text=True, check=True, timeout=30, env=env
    ).stdout
    assert shown.startswith(program.upper() + "(1)")
    assert "SEE ALSO" in shown
    # every subcommand of the parser has its section
    subparsers = [
        a for a in parser_of(program)._actions if a.__class__.__name__ == "_SubParsersAction"
    ]
    for action in subparsers:
        for name in action.choices:
            assert f"{program} {name}" in shown


def test_manpage_defaults_to_bgpd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manpage"]) == 0
    assert capsys.readouterr().out == manpage("bgpd")

"""The documentation stays true to the tree: links resolve and quoted commands exist.

- Every relative link and image in README.md, CHANGELOG.md and docs/*.md points at a file or
  folder that exists, and a `#fragment` names a heading of the target Markdown file (GitHub's
  anchor rules).
- Every `bgpd`, `bgpctl` and `bgp-reflector` command quoted in them (shell and console blocks,
  inline code) parses with the program's real argparse parser: its subcommands and options
  exist, with the values they need.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgpd.control.bgpctl import _parser as bgpctl_parser
from bgpd.main import _parser as bgpd_parser
from reflector.command import _parser as reflector_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "bgpd": bgpd_parser,
    "bgpctl": bgpctl_parser,
    "bgp-reflector": reflector_parser,
}

FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w+-]*)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
PROMPT = re.compile(r"^(?:[\w.-]*# |\$ )")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", "2>&1"}


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    lines: tuple[str, ...]


def split_markdown(text: str) -> tuple[list[str], list[Block]]:
    """The prose lines (outside fences) and the fenced blocks with their language."""
    prose: list[str] = []
    blocks: list[Block] = []
    current: list[str] | None = None
    lang = ""
    for line in text.splitlines():
        fence = FENCE.match(line)
        if current is None:
            if fence:
                current, lang = [], fence.group(3).lower()
            else:
                prose.append(line)
        elif fence and not fence.group(3):
            blocks.append(Block(lang, tuple(current)))
            current = None
        else:
            current.append(line)
    assert current is None, "unclosed code fence"
    return prose, blocks


# ------------------------------------------------------------------------------ links


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_markdown(path.read_text())
    found: set[str] = set()
    for line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: x, x-1, x-2
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(path: Path) -> Iterator[str]:
    prose, _ = split_markdown(path.read_text())
    for line in prose:
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                yield target


def test_the_docs_are_found() -> None:
    names = {p.name for p in DOCS}
    assert {"README.md", "getting-started.md", "troubleshooting.md", "calico-node.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_and_images_resolve(doc: Path) -> None:
    problems = []
    for target in links(doc):
        file_part, _, fragment = target.partition("#")
        dest = doc if not file_part else (doc.parent / file_part).resolve()
        if not dest.exists():
            problems.append(f"{target}: {dest.relative_to(REPO)} does not exist")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{fragment} in {dest.name}")
    assert not problems, f"{doc.name}:\n" + "\n".join(problems)


def test_anchor_rules_follow_github() -> None:
    assert slug("The export rules, in order") == "the-export-rules-in-order"
    assert slug("`[bgp]`") == "bgp"
    assert slug('Readiness probe failed: "BGP not established with ..."') == (
        "readiness-probe-failed-bgp-not-established-with-"
    )


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# Title\n[ok](#title) [bad](missing.md) [frag](#nope)\n`[code](skip.md)`\n")
    assert list(links(doc)) == ["#title", "missing.md", "#nope"]
    assert anchors(doc) == {"title"}


# ------------------------------------------------------------------------------ commands


def command_lines(path: Path) -> Iterator[str]:
    """Candidate command lines: shell/console block lines (continuations joined) and inline
    code spans, with prompts and trailing comments removed."""
    prose, blocks = split_markdown(path.read_text())
    for block in blocks:
        joined: list[str] = []
        pending = ""
        for raw in block.lines:
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            joined.append(pending + raw)
            pending = ""
        for line in joined:
            yield line.strip()
    for line in prose:
        for _, span in INLINE_CODE.findall(line):
            yield span.strip()


def program_args(line: str) -> tuple[str, list[list[str]]] | None:
    """(program, argument lists) when `line` runs one of our programs, else None.

    Alternatives written `show peer NAME | show config | reload` are separate argument lists;
    `[...]` optional parts are kept (so their options are checked too); a pipe into another
    program, redirections and trailing comments end the command.
    """
    line = PROMPT.sub("", line)
    line = re.sub(r"\s#.*$", "", line)
    try:
        tokens = shlex.split(line.replace("[", " ").replace("]", " "))
    except ValueError:
        return None
    # Wrappers in front of the program: env assignments, `ip netns exec NS`, `timeout N`, `env`.
    while tokens:
        if ENV_ASSIGNMENT.match(tokens[0]) or tokens[0] in ("env", "sudo"):
            tokens = tokens[1:]
        elif tokens[:3] == ["ip", "netns", "exec"]:
            tokens = tokens[4:]
        elif tokens[0] == "timeout" and len(tokens) > 1:
            tokens = tokens[2:]
        else:
            break
    if not tokens or Path(tokens[0]).name not in PARSERS:
        return None
    program = Path(tokens[0]).name
    segments: list[list[str]] = [[]]
    for token in tokens[1:]:
        if token in SHELL_OPERATORS:
            segments.append([])
        elif token.startswith((">", "2>")):
            break
        elif token != "...":
            segments[-1].append(token)
    parser = PARSERS[program]()
    subcommands = set(_subparser_choices(parser))
    first, *rest = segments
    # After a `|`, another subcommand of the same program is an alternative; anything else
    # (grep, head) is a pipe out of it.
    alternatives = [s for s in rest if s and s[0] in subcommands]
    if not first:
        return None
    return program, [first, *alternatives]


def _subparser_choices(parser: argparse.ArgumentParser) -> list[str]:
    # argparse has no public accessor for subcommands.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


@functools.cache
def quoted_commands() -> list[tuple[str, str, str, list[str]]]:
    found = []
    for doc in DOCS:
        for line in command_lines(doc):
            parsed = program_args(line)
            if parsed is None:
                continue
            program, alternatives = parsed
            for args in alternatives:
                found.append((doc.name, line, program, args))
    return found


def test_commands_are_found_in_the_docs() -> None:
    found = quoted_commands()
    programs = {program for _, _, program, _ in found}
    assert programs == set(PARSERS), programs
    verbs = {(program, args[0]) for _, _, program, args in found if args}
    for expected in [
        ("bgpd", "check"),
        ("bgpd", "run"),
        ("bgpd", "confd"),
        ("bgpctl", "show"),
        ("bgpctl", "reload"),
        ("bgp-reflector", "run"),
    ]:
        assert expected in verbs, sorted(verbs)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_commands_exist_in_the_parsers(doc: Path) -> None:
    problems = []
    for name, line, program, args in quoted_commands():
        if name != doc.name:
            continue
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                PARSERS[program]().parse_args(args)
        except SystemExit as exc:
            if exc.code == 0:  # --version, --help: a command that answers and exits
                continue
            error = stderr.getvalue().strip().splitlines()[-1:]
            problems.append(f"{line!r} -> {program} {' '.join(args)}: {error}")
    assert not problems, f"{doc.name}:\n" + "\n".join(problems)


def test_a_wrong_subcommand_is_caught() -> None:
    parsed = program_args("# bgpctl -s /x.ctl show neighbours | grep up")
    assert parsed == ("bgpctl", [["-s", "/x.ctl", "show", "neighbours"]])
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        bgpctl_parser().parse_args(parsed[1][0])
    parsed = program_args("bgpctl show peer NAME | show config | reload | peer NAME reset [--soft]")
    assert parsed is not None
    assert parsed[1] == [
        ["show", "peer", "NAME"],
        ["show", "config"],
        ["reload"],
        ["peer", "NAME", "reset", "--soft"],
    ]
    assert program_args("INFO bgpd.runtime.daemon: bgpd started asn=64512") is None
    assert program_args("NODENAME=n1 ip netns exec n1 bgpd confd --onetime") == (
        "bgpd",
        [["confd", "--onetime"]],
    )

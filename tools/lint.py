#!/usr/bin/env python3
"""ChainABS static analysis: slither over every contract, compiled through the project's solc.

Run by `make lint` with the interpreter of the lint venv (.venv-lint, from requirements-dev.txt).

Why not `slither .`: slither's brownie mode fails on interface files, which brownie builds without an
AST. So this script hands crytic-compile one Standard JSON input holding every `.sol` file under
`contracts/` and `interfaces/`, compiled by the launcher `make` registers (`.solcx/solc-v<version>`) in
`--standard-json` mode, with brownie-config.yaml's remappings, optimizer and EVM version.

Scope: findings are counted when one of their elements lies in `contracts/` (mocks excluded) or
`interfaces/`; findings only about `contracts/mocks/` or `node_modules/` are dropped.

Suppression: only inline comments count, on the line right above a line the finding names, with a
reason (docs/lint.md):
    // slither-disable-next-line reentrancy-no-eth -- <why this is safe>
slither's triage database (slither.db.json) is ignored. A suppression without a reason, with `all`,
naming an unknown detector, or a disable-start/end range is an error.

Exit status: 0 clean; 1 when a finding at or above --fail-on is not suppressed, a suppression comment
is malformed, or slither could not analyse some function (an "analysis gap": its findings would be
missing; --allow-partial accepts that); 2 when the contracts do not compile.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no annotations; nothing else is untyped here

ROOT = Path(__file__).resolve().parent.parent
IMPACTS: tuple[str, ...] = ("High", "Medium", "Low", "Informational", "Optimization")
SOURCE_DIRS: tuple[str, ...] = ("contracts", "interfaces")
EXCLUDED_DIRS: tuple[str, ...] = ("contracts/mocks",)

# The same pattern slither applies to the line above a finding: a comma-separated detector list with
# no spaces. Whatever follows it on the line is ours: the reason.
SUPPRESSION = re.compile(r"^\s*//\s*slither-disable-(next-line|start|end)\b\s*([a-zA-Z0-9_,-]*)(.*)$")
LOCATION_IN_TEXT = re.compile(r"\s*\([^()]*#\d+(?:-\d+)?\)")


@dataclass(frozen=True)
class CompilerSettings:
    """What brownie-config.yaml says about the compiler."""

    version: str
    remappings: tuple[str, ...]
    optimizer_runs: int
    evm_version: str


@dataclass(frozen=True)
class Finding:
    """One slither result, reduced to what the summary prints."""

    impact: str
    confidence: str
    check: str
    file: str
    line: int
    description: str
    details: str
    suppressed: bool

    def one_line(self, width: int) -> str:
        text = self.description if len(self.description) <= width else self.description[: width - 3] + "..."
        return f"{self.impact:<13} {self.check:<28} {self.file}:{self.line}  {text}"


@dataclass(frozen=True)
class SuppressionProblem:
    """A slither-disable comment that does not follow the project's rule."""

    file: str
    line: int
    message: str


class ErrorCollector(logging.Handler):
    """Keeps the errors slither and crytic-compile log, e.g. a function slither could not turn into IR.

    Such a function is silently left out of every detector, so "no finding" would not mean "checked".
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        self.messages.append(text if len(text) <= 300 else text[:297] + "...")


def read_compiler_settings(root: Path) -> CompilerSettings:
    """The solc version, remappings, optimizer runs and EVM version from brownie-config.yaml."""
    with (root / "brownie-config.yaml").open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    compiler = config.get("compiler", {})
    solc = compiler.get("solc", {})
    optimizer = solc.get("optimizer", {})
    if not optimizer.get("enabled", False):
        raise SystemExit("lint: brownie-config.yaml disables the optimizer; the Waterfall needs it")
    return CompilerSettings(
        version=str(solc["version"]),
        remappings=tuple(str(r) for r in solc.get("remappings", [])),
        optimizer_runs=int(optimizer.get("runs", 200)),
        evm_version=str(compiler.get("evm_version", "paris")),
    )


def source_files(root: Path) -> list[str]:
    """Every .sol file of the project (mocks included: they must compile), as POSIX paths from root."""
    found: list[str] = []
    for folder in SOURCE_DIRS:
        found.extend(p.relative_to(root).as_posix() for p in (root / folder).rglob("*.sol") if p.is_file())
    return sorted(found)


def in_scope(relative: str) -> bool:
    """True for a project source whose findings count (not a mock, not a dependency)."""
    if not any(relative.startswith(folder + "/") for folder in SOURCE_DIRS):
        return False
    return not any(relative.startswith(folder + "/") for folder in EXCLUDED_DIRS)


def path_from_root(root: Path, name: str) -> str:
    """A compiler-reported file name as a POSIX path from root; an absolute path when it lies outside.

    node_modules may be a link to elsewhere: its files then stay outside the root, hence out of scope.
    """
    path = Path(name)
    if not path.is_absolute():
        return posixpath.normpath(path.as_posix())
    for candidate in (path, path.resolve()):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def element_location(root: Path, element: dict[str, Any]) -> tuple[str, int] | None:
    """The (path from root, first line) of a result element, or None when it has no location."""
    mapping = element.get("source_mapping") or {}
    lines = mapping.get("lines") or []
    # filename_relative is relative to the current directory, not to the root: use the absolute name.
    name = mapping.get("filename_absolute") or ""
    if not lines or not name:
        return None
    return path_from_root(root, str(name)), int(min(lines))


def short_description(result: dict[str, Any]) -> str:
    """The first line of slither's description without its (file#line) references."""
    first = str(result.get("description", "")).strip().splitlines()[0] if result.get("description") else ""
    return " ".join(LOCATION_IN_TEXT.sub("", first).split())


def check_suppressions(root: Path, files: Iterable[str], detectors: set[str]) -> list[SuppressionProblem]:
    """Every slither-disable comment must be a next-line one, name known detectors and give a reason.

    The reason goes after the detector list on the same line (`-- why`), or in a `//` comment on the
    line directly above. Detectors are separated by commas without spaces: slither stops reading the
    list at the first space, so `a, b` would silently suppress only `a`.
    """
    problems: list[SuppressionProblem] = []
    for relative in files:
        lines = (root / relative).read_text(encoding="utf-8").splitlines()
        for index, text in enumerate(lines):
            match = SUPPRESSION.match(text)
            if not match:
                continue
            kind, listed, rest = match.group(1), match.group(2), match.group(3).strip()
            names = [name for name in listed.split(",") if name]
            messages: list[str] = [] if names else ["names no detector"]
            for name in names:
                if name == "all":
                    messages.append("'all' hides every detector: name the detector")
                elif name not in detectors:
                    messages.append(f"unknown detector '{name}'")
            first_word = rest.split()[0].strip(",") if rest else ""
            if first_word in detectors:
                messages.append(
                    f"'{first_word}' is not read by slither: separate detectors with ',' and no space"
                )
            if kind != "next-line":
                messages.append(
                    f"slither-disable-{kind}: use slither-disable-next-line above each flagged line"
                )
            else:
                reason = rest.lstrip("-:").strip()
                above = lines[index - 1] if index > 0 else ""
                reason_above = above.strip().startswith("//") and not SUPPRESSION.match(above)
                if not reason and not reason_above:
                    messages.append("gives no reason (write `-- <reason>` after the detector)")
            problems.extend(SuppressionProblem(relative, index + 1, message) for message in messages)
    return problems


def analyse(
    root: Path, solc: Path, settings: CompilerSettings, files: Sequence[str]
) -> tuple[list[Finding], list[str], set[str], str]:
    """Compile through the launcher in standard-json mode and run every slither detector.

    Returns the findings (suppressed ones flagged), the unused suppressions, the detector names and
    slither's version.
    """
    from importlib.metadata import version as package_version

    from crytic_compile import CryticCompile
    from crytic_compile.platform.solc_standard_json import SolcStandardJson
    from slither import Slither  # type: ignore[import-untyped]
    from slither.detectors import all_detectors  # type: ignore[import-untyped]
    from slither.detectors.abstract_detector import AbstractDetector  # type: ignore[import-untyped]

    standard_input: dict[str, Any] = {
        "language": "Solidity",
        "sources": {path: {"urls": [path]} for path in files},
        "settings": {
            "optimizer": {"enabled": True, "runs": settings.optimizer_runs},
            "evmVersion": settings.evm_version,
        },
    }
    # crytic-compile annotates its keyword arguments as str, but reads remappings as a list too (a list
    # keeps a remapping whole whatever its path) and the warnings switch as a bool.
    options: dict[str, Any] = {
        "solc": str(solc),
        "solc_remaps": list(settings.remappings),
        "solc_args": "--optimize",
        "solc_working_dir": str(root),
        "solc_disable_warnings": True,
    }
    compilation = CryticCompile(SolcStandardJson(standard_input), **options)
    # show_ignored_findings: slither then hands back suppressed results too (and skips its triage
    # database); the inline comments are checked below, with slither's own rule.
    slither = Slither(compilation, show_ignored_findings=True)
    detector_classes: list[Any] = [
        cls
        for cls in vars(all_detectors).values()
        if isinstance(cls, type) and issubclass(cls, AbstractDetector) and cls is not AbstractDetector
    ]
    for cls in detector_classes:
        slither.register_detector(cls)

    findings: list[Finding] = []
    seen: set[str] = set()
    for result in (r for per_detector in slither.run_detectors() for r in per_detector):
        if result.get("id") in seen:
            continue
        seen.add(str(result.get("id")))
        located = [loc for loc in (element_location(root, e) for e in result.get("elements", [])) if loc]
        scoped = [loc for loc in located if in_scope(loc[0])]
        if located and not scoped:
            continue  # only about mocks or dependencies
        file, line = scoped[0] if scoped else ("(no location)", 0)
        findings.append(
            Finding(
                impact=str(result.get("impact", "")),
                confidence=str(result.get("confidence", "")),
                check=str(result.get("check", "")),
                file=file,
                line=line,
                description=short_description(result),
                details=str(result.get("description", "")).strip(),
                suppressed=slither.has_ignore_comment(result),
            )
        )
    unused: list[str] = []
    for comment in slither.get_unused_ignore_comments():
        where = path_from_root(root, str(comment["file"]))
        if in_scope(where):
            unused.append(f"{where}:{comment['line']} {','.join(comment['unused_detectors'])}")
    names = {str(cls.ARGUMENT) for cls in detector_classes}
    return findings, unused, names, package_version("slither-analyzer")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: this checkout)")
    parser.add_argument(
        "--solc", type=Path, default=None, help="solc to use (default: .solcx/solc-v<version>)"
    )
    parser.add_argument(
        "--fail-on",
        choices=("high", "medium", "low"),
        default="medium",
        help="lowest impact that fails the run when not suppressed (default: medium)",
    )
    parser.add_argument("--all", action="store_true", help="list informational and optimization findings too")
    parser.add_argument(
        "--details", action="store_true", help="print slither's full text under each listed finding"
    )
    parser.add_argument("--show-suppressed", action="store_true", help="list suppressed findings too")
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="do not fail when slither could not analyse a function (an analysis gap)",
    )
    parser.add_argument("--width", type=int, default=110, help="description width in the listing")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    root: Path = args.root.resolve()
    settings = read_compiler_settings(root)
    solc: Path = (args.solc or root / ".solcx" / f"solc-v{settings.version}").absolute()
    if not solc.exists():
        print(f"lint: no compiler at {solc} (run `make install`)", file=sys.stderr)
        return 2
    files = source_files(root)
    gaps = ErrorCollector()
    logging.basicConfig(level=logging.ERROR, handlers=[gaps], force=True)
    try:
        findings, unused, detectors, slither_version = analyse(root, solc, settings, files)
    except Exception as error:  # noqa: BLE001  # crytic-compile's InvalidCompilation, slither's errors
        print(f"lint: compilation or analysis failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    problems = check_suppressions(root, (f for f in files if in_scope(f)), detectors)

    fail_rank = {"high": 0, "medium": 1, "low": 2}[args.fail_on]
    order = {impact: rank for rank, impact in enumerate(IMPACTS)}
    findings.sort(key=lambda f: (order.get(f.impact, 99), f.check, f.file, f.line))
    open_findings = [f for f in findings if not f.suppressed]
    suppressed = [f for f in findings if f.suppressed]
    failing = [f for f in open_findings if order.get(f.impact, 99) <= fail_rank]

    counts = ", ".join(
        f"{impact} {sum(f.impact == impact for f in open_findings)}"
        + (f" (+{n} suppressed)" if (n := sum(f.impact == impact for f in suppressed)) else "")
        for impact in IMPACTS
    )
    print(
        f"slither {slither_version}, solc {settings.version} (standard-json, optimizer {settings.optimizer_runs} runs, "
        f"evm {settings.evm_version}): {len(files)} files, mocks and dependencies excluded"
    )
    print(f"unsuppressed: {counts}")
    listed_rank = order["Optimization"] if args.all else order["Low"]
    listed = [f for f in open_findings if order.get(f.impact, 99) <= listed_rank]
    for finding in listed + (suppressed if args.show_suppressed else []):
        print(("suppressed    " if finding.suppressed else "") + finding.one_line(args.width))
        if args.details:
            print("\n".join("    " + line for line in finding.details.splitlines()))
    for problem in problems:
        print(f"bad suppression {problem.file}:{problem.line}: {problem.message}")
    for comment in unused:
        print(f"unused suppression {comment} (nothing flagged on the next line: remove it)")
    for message in gaps.messages:
        print(f"analysis gap: {message}")
    blocking_gaps = [] if args.allow_partial else gaps.messages
    elapsed = time.monotonic() - started
    failed = bool(failing or problems or blocking_gaps)
    print(
        f"lint {'FAIL' if failed else 'ok'}: {len(failing)} unsuppressed finding(s) at {args.fail_on} or above, "
        f"{len(problems)} bad suppression(s), {len(gaps.messages)} analysis gap(s), {elapsed:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

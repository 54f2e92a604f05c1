"""Mutation score per package, read from the results `mutmut run` leaves in `mutants/`.

`make mutation` runs mutmut and then this script, whose last line is the overall score:
`mutation score: NN% (KILLED/TOTAL)`. A mutant counts as killed when a test failed on it,
it ran past its time limit (an endless loop is a failure users would see) or it crashed
the interpreter. Mutants no test reaches count as survivors: untested code is the point.

A survivor reviewed and found equivalent (no test can tell it from the code) is listed in
EQUIVALENTS under its `## reason`, with the hash mutmut keeps of its function's source: when the
function changes, its mutants are renumbered and the entry no longer counts, so the new
survivors are reviewed again. `--unreviewed` prints the survivors not listed, as entries.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from mutmut.stats import status_by_exit_code

from tests.mutation_scope import (
    EQUIVALENTS,
    TIMES_FILE,
    function_of,
    module_of,
    read_equivalents,
)

CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = {"not checked", "check was interrupted by user", "skipped"}
# The packages reported on: what [tool.mutmut] mutates ("app/services/*" is app/services).
PACKAGES = tuple(
    pattern.removesuffix("/*")
    for pattern in tomllib.loads(
        (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    )["tool"]["mutmut"]["only_mutate"]
)


def package_of(source: str) -> str:
    """The reported package a mutated file belongs to, or its own folder."""
    for package in PACKAGES:
        if source == package or source.startswith(package + "/"):
            return package
    return str(Path(source).parent)


def survivors(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """(mutant, hash of its function) of every mutant in one meta file that survived."""
    hashes = meta["hash_by_function_name"]
    return [
        (mutant, str(hashes[function_of(mutant)]))
        for mutant, code in meta["exit_code_by_key"].items()
        if status_by_exit_code[code] not in CAUGHT | NOT_RUN
    ]


def metas(mutants: Path) -> list[tuple[str, dict[str, Any]]]:
    """(source path, contents) of every `*.py.meta` file mutmut wrote, in path order."""
    return [
        (meta.relative_to(mutants).as_posix().removesuffix(".meta"), json.loads(meta.read_text()))
        for meta in sorted(mutants.rglob("*.py.meta"))
    ]


def tally(mutants: Path, equivalents: set[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Killed, total and listed-equivalent mutants per package."""
    counts: dict[str, Counter[str]] = {}
    for source, meta in metas(mutants):
        package = counts.setdefault(package_of(source), Counter())
        for status in map(status_by_exit_code.__getitem__, meta["exit_code_by_key"].values()):
            if status in NOT_RUN:
                package["not run"] += 1
                continue
            package["total"] += 1
            package["killed"] += status in CAUGHT
        package["equivalent"] += len(set(survivors(meta)) & equivalents)
    return counts


def seconds_by_module(mutants: Path) -> Counter[str]:
    """Wall seconds the mutants of each module took, from the runs' TIMES_FILE (the last
    run of a mutant tried twice counts)."""
    times = mutants / TIMES_FILE
    lines = times.read_text().splitlines() if times.exists() else []
    last = {record["mutant"]: record["seconds"] for record in map(json.loads, lines)}
    by_module: Counter[str] = Counter()
    for mutant, seconds in last.items():
        by_module[module_of(mutant)] += seconds
    return by_module


def print_times(by_module: Counter[str], shown: int = 8) -> None:
    """Where a run's time went: the modules whose mutants took longest, in minutes."""
    if not by_module:
        return
    slowest = ", ".join(f"{name} {secs / 60:.1f}" for name, secs in by_module.most_common(shown))
    print(f"mutants' runs: {sum(by_module.values()) / 60:.1f} process-minutes; slowest: {slowest}")


def score_line(label: str, killed: int, total: int) -> str:
    percent = 100 * killed / total if total else 0.0
    return f"{label}: {percent:.0f}% ({killed}/{total})"


def package_line(label: str, count: Counter[str]) -> str:
    """A package's score, then how many of its survivors are listed as equivalent and how
    many are still to review."""
    left = count["total"] - count["killed"]
    line = score_line(label, count["killed"], count["total"])
    line += f"; survivors: {count['equivalent']} equivalent, {left - count['equivalent']} to review"
    return line + (f", {count['not run']} not run" if count["not run"] else "")


def stale(mutants: Path, listed: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Listed entries that match no survivor: the mutant is killed now (a test catches it)
    or its function changed (mutants renumbered)."""
    surviving = {entry for _, meta in metas(mutants) for entry in survivors(meta)}
    return listed - surviving


def main(mutants: Path = Path("mutants"), equivalents: Path = EQUIVALENTS) -> int:
    listed = read_equivalents(equivalents)
    if not (counts := tally(mutants, listed)):
        print(f"no mutmut results under {mutants}/: run `make mutation`", file=sys.stderr)
        return 2
    print_times(seconds_by_module(mutants))
    if old := stale(mutants, listed):
        print(f"{len(old)} listed equivalents no longer survive, remove them:")
        print("\n".join(f"  {mutant} {digest}" for mutant, digest in sorted(old)))
    overall: Counter[str] = Counter()
    for package, count in sorted(counts.items()):
        print(package_line(package, count))
        overall.update(count)
    print(score_line("mutation score", overall["killed"], overall["total"]))
    return 0


def print_unreviewed(mutants: Path = Path("mutants"), equivalents: Path = EQUIVALENTS) -> int:
    """The survivors not listed as equivalent, one `<mutant> <function hash>` line each."""
    listed = read_equivalents(equivalents)
    for _, meta in metas(mutants):
        for entry in survivors(meta):
            if entry not in listed:
                print(*entry)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--unreviewed"]:
        sys.exit(print_unreviewed(*(Path(arg) for arg in args[1:2])))
    sys.exit(main(*(Path(arg) for arg in args[:1])))

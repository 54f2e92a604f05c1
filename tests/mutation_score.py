"""Mutation score per package, read from the results `mutmut run` leaves in `mutants/`.

`make mutation` runs mutmut and then this script, whose last line is the overall score:
`mutation score: NN% (KILLED/TOTAL)`. A mutant counts as killed when a test failed on it,
it ran past its time limit (an endless loop is a failure users would see) or it crashed
the interpreter. Mutants no test reaches count as survivors: untested code is the point.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

from tests.mutation_scope import TIMES_FILE, module_of

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


def tally(mutants: Path) -> dict[str, Counter[str]]:
    """Killed and total mutants per package, from every `*.py.meta` file mutmut wrote."""
    counts: dict[str, Counter[str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = meta.relative_to(mutants).as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        package = counts.setdefault(package_of(source), Counter())
        for status in map(status_by_exit_code.__getitem__, codes):
            if status in NOT_RUN:
                package["not run"] += 1
                continue
            package["total"] += 1
            package["killed"] += status in CAUGHT
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


def main(mutants: Path = Path("mutants")) -> int:
    counts = tally(mutants)
    if not counts:
        print(f"no mutmut results under {mutants}/: run `make mutation`", file=sys.stderr)
        return 2
    print_times(seconds_by_module(mutants))
    overall: Counter[str] = Counter()
    for package, count in sorted(counts.items()):
        not_run = f", {count['not run']} not run" if count["not run"] else ""
        print(score_line(package, count["killed"], count["total"]) + not_run)
        overall.update(count)
    print(score_line("mutation score", overall["killed"], overall["total"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(Path(arg) for arg in sys.argv[1:2])))

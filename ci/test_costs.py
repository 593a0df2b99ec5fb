"""The cost table: what each tox env and each test file of it takes, from one run.

    python ci/test_costs.py TOX_RESULT_JSON [--out ci/test_costs.md]

Reads tox's `--result-json` (each env's wall seconds, setup included) and the
JUnit reports the pytest commands write under each env's temporary folder
(`.tox/<env>/tmp/junit*.xml`, set in tox.ini), and prints a Markdown table:
per env its wall seconds, then per test file the seconds its tests took summed
over the pytest workers (about twice the wall time with two workers), and the
slowest tests. `.ci/run` prints it at the end of every run; the copy in
`ci/test_costs.md` is regenerated from a clean-clone run (see CONTRIBUTING).
Exits 2 with one line when a report cannot be read.
"""

import argparse
import collections
import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

__all__ = ["env_costs", "file_costs", "main", "render"]

SLOWEST = 15


def env_costs(result):
    """{env: wall seconds} from tox's result JSON, in the order tox ran them."""
    return {
        name: env["result"]["duration"]
        for name, env in result.get("testenvs", {}).items()
        if "result" in env
    }


def file_costs(report):
    """[(test file, test id, seconds)] of one JUnit report."""
    rows = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        # classname is "tests.test_x" or "tests.test_x.TestClass": the file is the test_ part.
        name = next((part for part in module if part.startswith("test_")), ".".join(module))
        rows.append((f"{name}.py", case.get("name", ""), float(case.get("time") or 0.0)))
    return rows


def render(envs, reports):
    """The Markdown table, from env wall times and {env: [JUnit report paths]}."""
    lines = ["# Test costs", ""]
    lines += [
        "Regenerate from a clean-clone `bash .ci/run` (which prints this table at its end):",
        "`python ci/test_costs.py .tox/result.json --out ci/test_costs.md`. Test seconds are",
        "summed over the pytest workers, so with two workers a file's share of its env's wall",
        "time is about half the figure.",
        "",
        "| env | wall s | tests | test s |",
        "|---|---:|---:|---:|",
    ]
    rows = {env: [row for path in reports.get(env, []) for row in file_costs(path)] for env in envs}
    for env, seconds in envs.items():
        tests = rows[env]
        lines.append(f"| {env} | {seconds:.0f} | {len(tests)} | {sum(t for *_, t in tests):.0f} |")
    lines.append(f"| **all** | **{sum(envs.values()):.0f}** | | |")
    for env in envs:
        if not rows[env]:
            continue
        by_file = collections.defaultdict(lambda: [0, 0.0])
        for file, _, seconds in rows[env]:
            by_file[file][0] += 1
            by_file[file][1] += seconds
        lines += ["", f"## {env}", "", "| test file | tests | test s |", "|---|---:|---:|"]
        for file, (count, seconds) in sorted(by_file.items(), key=lambda item: -item[1][1]):
            lines.append(f"| {file} | {count} | {seconds:.1f} |")
        slowest = sorted(rows[env], key=lambda row: -row[2])[:SLOWEST]
        lines += ["", f"Slowest in {env}: " + ", ".join(f"`{n}` {s:.1f}" for _, n, s in slowest)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result_json", type=Path, help="tox's --result-json file")
    parser.add_argument("--out", type=Path, help="write the table here as well")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.result_json.read_text(encoding="utf-8"))
        envs = env_costs(result)
        tox_dir = args.result_json.resolve().parent
        reports = {env: sorted((tox_dir / env / "tmp").glob("junit*.xml")) for env in envs}
        table = render(envs, reports)
    except (OSError, ValueError, KeyError, ElementTree.ParseError) as error:
        print(f"test_costs: cannot read the reports: {error}", file=sys.stderr)
        return 2
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks fnhost's layering: each folder of src/ is one layer, and includes point down only.

Fails (exit 1, one line per problem) when
  - a file in src/<layer>/ includes "src/<other>/..." and <other> is not below <layer> in
    LAYERS (an edge up or sideways), or the folder-level include graph has a cycle;
  - a public header in include/fnhost/ includes anything but include/fnhost/, Abseil and the
    standard library (a public header must not leak the inside);
  - a file under src/ is longer than MAX_FILE_LINES lines;
  - a function defined at namespace scope in a .cc file under src/ is longer than
    MAX_FUNCTION_LINES lines (a crude check: from a line that starts a definition at column 0
    and ends with "{" to the next line that is "}" alone).

Usage: scripts/check_layers.py [repository root]   (default: this script's repository)
"""

import pathlib
import re
import sys

# Each layer and the layers it may include, directly. Keep in step with src/CMakeLists.txt and
# the README's "Layout" section.
LAYERS = {
    "common": set(),
    "loader": {"common"},
    "snapshot": {"loader", "common"},
    "runtime": {"snapshot", "loader", "common"},
    "sandbox": {"common"},
    "isolation": {"runtime", "snapshot", "loader", "sandbox", "common"},
    "policy": {"common"},
    "metrics": {"common"},
    "host": {"isolation", "sandbox", "runtime", "snapshot", "loader", "policy", "metrics",
             "common"},
    "config": {"policy", "common"},
    "sim": {"policy", "common"},
    "cli": {"config", "host", "sim", "isolation", "runtime", "snapshot", "loader", "policy",
            "metrics", "sandbox", "common"},
}

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# A definition that starts at column 0: a return type or a qualified name, then "(".
DEFINITION = re.compile(r"^[A-Za-z_~][\w:<>,*&~ ]*\(")
NOT_FUNCTIONS = ("namespace", "struct", "class", "enum", "union", "using", "typedef", "#")


def layer_edges(root):
    edges = {}
    problems = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in (".h", ".cc") or not path.is_file():
            continue
        layer = path.relative_to(root / "src").parts[0]
        if layer not in LAYERS:
            problems.append(f"{path.relative_to(root)}: folder src/{layer} is not a known layer")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match or not match.group(1).startswith("src/"):
                continue
            target = match.group(1).split("/")[1]
            if target == layer:
                continue
            edges.setdefault(layer, set()).add(target)
            if target not in LAYERS.get(layer, set()):
                problems.append(f"{path.relative_to(root)}:{number}: layer {layer} includes "
                                f"{match.group(1)} (layer {target}), which is not below it")
    return edges, problems


def find_cycle(edges):
    """A cycle of the folder-level include graph, as a list of layers, or None."""
    done = set()

    def visit(node, stack):
        for target in sorted(edges.get(node, ())):
            if target in stack:
                return stack[stack.index(target):] + [target]
            if target not in done:
                cycle = visit(target, stack + [target])
                if cycle:
                    return cycle
        done.add(node)
        return None

    for node in sorted(edges):
        if node not in done:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def public_header_problems(root):
    problems = []
    for path in sorted((root / "include" / "fnhost").glob("*.h")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if match and not match.group(1).startswith(("fnhost/", "absl/")):
                problems.append(f"{path.relative_to(root)}:{number}: public header includes "
                                f"\"{match.group(1)}\"")
    return problems


def size_problems(root):
    problems = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in (".h", ".cc") or not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()
        if len(lines) > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(root)}: {len(lines)} lines, more than "
                            f"{MAX_FILE_LINES}")
        if path.suffix != ".cc":
            continue
        start = None    # the first line of the definition being measured
        pending = None  # a line that may begin a definition whose signature goes on
        for number, line in enumerate(lines, 1):
            if start is None:
                if DEFINITION.match(line) and not line.startswith(NOT_FUNCTIONS):
                    pending = number
                if pending is not None:
                    if line.rstrip().endswith("{"):
                        start, pending = pending, None
                    elif line.rstrip().endswith((";", "}")) or not line.strip():
                        pending = None
            elif line == "}":
                length = number - start + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{path.relative_to(root)}:{start}: a function of "
                                    f"{length} lines, more than {MAX_FUNCTION_LINES}")
                start = None
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parent.parent)
    edges, problems = layer_edges(root)
    cycle = find_cycle(edges)
    if cycle:
        problems.append("include cycle between layers: " + " -> ".join(cycle))
    problems += public_header_problems(root)
    problems += size_problems(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_layers: {len(LAYERS)} layers, includes point down only; files within "
          f"{MAX_FILE_LINES} lines, functions within {MAX_FUNCTION_LINES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

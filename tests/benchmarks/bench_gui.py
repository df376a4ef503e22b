"""GUI benchmark: opening a 1,000-node workflow in the editor until the canvas is painted.

    .venv/bin/python -m tests.benchmarks.bench_gui [--nodes N] [--repeat K] [--json PATH]

Scenarios, each run ``--repeat`` times in a fresh child process (cold caches,
a fresh QApplication, its own peak RSS), interleaved; the table shows medians:

* ``placed``: a generated workflow of ``--nodes`` nodes (a mix of real
  blocks in chains of ten, with links and templates) whose nodes all have a
  ``position``.
* ``unplaced``: the same file without positions, so the automatic layout
  runs while opening.

Phases, measured in the child with ``time.perf_counter``:

* ``read``: file to ``WorkflowDocument`` (parse and structure checks);
* ``build``: the editor widget: scene items for every node and link, the
  palette, the property panel;
* ``paint``: show, fit to the window, and a synchronous repaint of the
  canvas (``viewport().repaint()`` returns once every visible item is
  painted), so ``open`` (= read + build + paint) is "until the canvas is
  painted", the figure with the 1 s target;
* ``check``: the first validation pass, which the editor runs 300 ms after
  opening, off the path to the first paint;
* ``save``: writing the unchanged document (the original text) and a changed
  one (fresh YAML).

Children render offscreen (``QT_QPA_PLATFORM=offscreen``, Qt's raster
engine, as on X11 without OpenGL).  The process exits 1 only when a
correctness check fails; a missed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.benchmarks._util import fmt, format_table, load_average, median, peak_rss_mib, run_child

logger = logging.getLogger(__name__)

MODULE = "tests.benchmarks.bench_gui"
TARGET_OPEN_MS = 1000.0
CHILD_TIMEOUT = 300.0
SCENARIOS = ("placed", "unplaced")

#: (block, inputs) cycled through to build chains; each feeds the next through a link.
_CHAIN: tuple[tuple[str, dict[str, Any]], ...] = (
    ("http.request", {"url": "http://127.0.0.1:8000/item/{{ inputs.start }}", "method": "GET"}),
    ("data.to_json", {"indent": 2}),
    ("data.template", {}),
    ("data.regex_match", {"pattern": "[0-9]+"}),
    ("data.set_var", {"name": "last"}),
    ("file.write", {"path": "out/{{ run.id }}.txt"}),
    ("notify.log", {"level": "info"}),
    ("control.pass", {}),
    ("data.compare", {"op": "==", "right": 3}),
    ("notify.log", {}),
)
_LINKS = (
    "json -> {b}.value",
    "text -> {b}.text",
    "text -> {b}.text",
    "match -> {b}.value",
    "value -> {b}.content",
    "path -> {b}.message",
    "",
    "value -> {b}.left",
    "",
    "",
)


def generate_workflow(nodes: int, *, positions: bool) -> str:
    """YAML for a workflow of ``nodes`` nodes in chains of ten, laid out in a grid."""
    lines = [
        "deskpilot: 1",
        "name: bench-gui",
        "inputs:",
        "  start: {type: integer, default: 1}",
        "nodes:",
    ]
    links: list[str] = []
    for index in range(nodes):
        chain, step = divmod(index, len(_CHAIN))
        block, inputs = _CHAIN[step]
        node_id = f"n{index}"
        lines.append(f"  {node_id}:")
        lines.append(f"    block: {block}")
        values = dict(inputs)
        if step == len(_CHAIN) - 1:
            values["message"] = f"compared: {{{{ nodes.n{index - 1}.result }}}}"
        if values:
            lines.append("    with:")
            lines += [f"      {key}: {json.dumps(value)}" for key, value in values.items()]
        if positions:
            lines.append(f"    position: [{step * 300}, {chain * 420}]")
        if step + 1 < len(_CHAIN) and index + 1 < nodes:
            pin = _LINKS[step]
            target = f"n{index + 1}"
            links.append(f"{node_id}.{pin.format(b=target)}" if pin else f"{node_id} -> {target}")
    lines.append("links:")
    lines += [f"  - {link}" for link in links]
    return "\n".join(lines) + "\n"


# -- the child ------------------------------------------------------------------------------
def child(scenario: str, nodes: int) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QApplication

    from app import theme as themes
    from app.editor.document import WorkflowDocument
    from app.editor.widget import EditorWidget
    from automation.blocks.registry import BlockRegistry

    app = QApplication([])
    theme = themes.apply(app, themes.LIGHT)
    registry = BlockRegistry.with_builtins(plugins=False)
    with TemporaryDirectory(prefix="bench-gui-") as temp:
        path = Path(temp) / "big.yaml"
        path.write_text(generate_workflow(nodes, positions=scenario == "placed"), encoding="utf-8")
        start = time.perf_counter()
        document = WorkflowDocument.open(path)
        read = time.perf_counter()
        editor = EditorWidget(document, registry, theme)
        editor.resize(1600, 1000)
        built = time.perf_counter()
        editor.show()
        editor.view.fit_all()
        editor.view.viewport().repaint()
        painted = time.perf_counter()
        result = editor.validate_now()
        checked = time.perf_counter()
        same = document.to_text()
        editor.save()
        saved_same = time.perf_counter()
        editor.add_block("notify.log")
        editor.save()
        saved_changed = time.perf_counter()
        image = editor.view.viewport().grab().toImage()
        background = QColor(theme.canvas).rgb()
        drawn = sum(
            1
            for x in range(0, image.width(), 8)
            for y in range(0, image.height(), 8)
            if image.pixel(x, y) != background
        )
        checks = {
            "nodes": len(editor.scene.node_items) - 1,
            "links_drawn": len(editor.scene.link_items) == len(document.links),
            "issues": len(result.issues),
            "painted_samples": drawn,
            "unchanged_save_identical": same
            == generate_workflow(nodes, positions=scenario == "placed"),
        }
        editor.close_editor()
    return {
        "scenario": scenario,
        "read_ms": (read - start) * 1000,
        "build_ms": (built - read) * 1000,
        "paint_ms": (painted - built) * 1000,
        "open_ms": (painted - start) * 1000,
        "check_ms": (checked - painted) * 1000,
        "save_same_ms": (saved_same - checked) * 1000,
        "save_changed_ms": (saved_changed - saved_same) * 1000,
        "peak_rss_mib": peak_rss_mib(),
        "checks": checks,
    }


def _problems(data: dict[str, Any], nodes: int) -> list[str]:
    checks = data["checks"]
    problems = []
    if checks["nodes"] != nodes:
        problems.append(f"{checks['nodes']} node items for {nodes} nodes")
    if not checks["links_drawn"]:
        problems.append("not every link has a link item")
    if checks["issues"]:
        problems.append(f"the generated workflow has {checks['issues']} validation issues")
    if checks["painted_samples"] < 100:
        problems.append("the canvas looks empty after painting")
    if not checks["unchanged_save_identical"]:
        problems.append("saving the unchanged document changed the file")
    return problems


# -- the parent -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nodes < len(_CHAIN) or args.nodes % len(_CHAIN):
        parser.error(f"--nodes must be a multiple of {len(_CHAIN)} (whole chains)")
    if args.child:
        print(json.dumps(child(args.child, args.nodes)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    failures: list[str] = []
    for _ in range(args.repeat):
        for name in SCENARIOS:
            done = run_child(
                MODULE, ["--child", name, "--nodes", str(args.nodes)], timeout=CHILD_TIMEOUT
            )
            if done.error:
                failures.append(f"{name}: {done.error}")
                continue
            failures += [f"{name}: {p}" for p in _problems(done.data, args.nodes)]
            results[name].append(done.data)
    headers = ["scenario", "runs", "read ms", "build ms", "paint ms", "open ms", "check ms",
               "save same ms", "save changed ms", "peak MiB", f"open < {TARGET_OPEN_MS:g} ms"]  # fmt: skip
    rows = []
    for name, runs in results.items():
        if not runs:
            rows.append([name, "0"] + ["-"] * (len(headers) - 2))
            continue

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return median([run[key] for run in runs])

        rows.append(
            [
                name,
                str(len(runs)),
                fmt(med("read_ms"), 1),
                fmt(med("build_ms"), 1),
                fmt(med("paint_ms"), 1),
                fmt(med("open_ms"), 1),
                fmt(med("check_ms"), 1),
                fmt(med("save_same_ms"), 1),
                fmt(med("save_changed_ms"), 1),
                fmt(median([r["peak_rss_mib"] or 0.0 for r in runs]), 0),
                "yes" if med("open_ms") < TARGET_OPEN_MS else "NO",
            ]
        )
    load = load_average()
    print(f"Opening a {args.nodes:,}-node workflow in the editor (medians of {args.repeat} runs; "
          f"1-min load {fmt(load, 2)}):")  # fmt: skip
    print(format_table(headers, rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if failures:
        print("\nFAILED checks:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

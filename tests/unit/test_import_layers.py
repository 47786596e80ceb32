"""Imports run one way, as the picture in docs/architecture.md draws the layers: read from that picture, so the
rule and its documentation cannot drift apart."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "agentctx"


def layers() -> list[set[str]]:
    """The rooms of each line of the picture under "## The layers", top first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    picture = text.split("## The layers", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    found = []
    for line in picture.splitlines():
        if line.startswith("agentctx."):
            names = re.match(r"agentctx(?:\.\w+)(?: +\.\w+)*", line)
            assert names is not None
            found.append({name.lstrip(".") for name in re.findall(r"\.\w+", names.group(0))})
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules a file imports, anywhere in it (a lazy import inside a function too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from agentctx.store import keys` imports a module; `from agentctx.store.keys import X` a name
            candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in candidates:
            if name in known:
                yield name
                break


def room(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_the_picture_names_every_room_once():
    rooms = [name for line in layers() for name in line]
    assert len(rooms) == len(set(rooms)), rooms
    unnamed = {room(module) for module in modules()} - set(rooms) - {""}
    assert not unnamed, f"rooms missing from the picture in docs/architecture.md: {sorted(unnamed)}"


def test_every_import_runs_down_the_layers():
    depth = {name: number for number, line in enumerate(layers()) for name in line}
    known = modules()
    wrong = [
        f"{module} imports {target}"
        for module, path in known.items()
        for target in imported(path, known)
        if room(target) != room(module) and room(module) and depth[room(target)] <= depth[room(module)]
    ]
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(wrong)


def test_no_module_imports_itself_through_others():
    known = modules()
    graph = {module: set(imported(path, known)) - {module} for module, path in known.items()}
    circles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(circles)

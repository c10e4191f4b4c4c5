"""The package's rooms: imports go downward only (studies -> deploy / mteb_bridge -> run / index / convert / plots
-> core), no cycles."""

import ast
import subprocess
import sys

from workbench.core.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "workbench"
# What each room may import from the package, besides itself.
ALLOWED = {
    "core": {"core"},
    "convert": {"core"},
    "index": {"core"},
    "run": {"core"},
    "plots": {"core"},
    "deploy": {"core", "convert", "index", "run"},
    "mteb_bridge": {"core", "convert"},
    "studies": {"core", "convert", "index", "run", "plots", "deploy", "mteb_bridge"},
}


def _modules() -> dict[str, object]:
    return {".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__"): path
            for path in sorted(PACKAGE.rglob("*.py"))}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path) -> set[str]:
    """Every workbench module a file imports, at the top or inside a function (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("workbench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workbench"):
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in _modules() else node.module
                      for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_rooms_import_downward_only():
    wrong = []
    for module, targets in _graph().items():
        room = _room(module)
        for target in targets:
            other = _room(target)
            if room in ALLOWED and other is not None and other != room and other not in ALLOWED[room]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def _study_of_each_module() -> dict[str, str]:
    """workbench.studies module -> the notebook that imports it: a study is its notebook and the modules it uses
    (05 has three, split for length). A module no notebook imports is a study of its own."""
    import json

    owner: dict[str, str] = {}
    for notebook in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module == "workbench.studies":
                for alias in node.names:
                    assert owner.setdefault(f"workbench.studies.{alias.name}", notebook.stem) == notebook.stem, \
                        f"workbench.studies.{alias.name} is imported by two notebooks"
    return owner


def test_no_study_imports_another_study():
    """A study's modules may use each other; one study's module never imports another study's."""
    owner = _study_of_each_module()
    wrong = [f"{m} ({owner.get(m, 'no notebook')}) imports {t} ({owner.get(t, 'no notebook')})"
             for m, targets in _graph().items() if _room(m) == "studies"
             for t in targets if _room(t) == "studies" and not t.endswith("studies")
             and owner.get(m, m) != owner.get(t, t)]
    assert not wrong, wrong


def test_each_study_module_belongs_to_the_notebook_that_imports_it():
    owner = _study_of_each_module()
    assert owner["workbench.studies.scale_claims"] == owner["workbench.studies.scale"] == "05_scale"
    assert owner["workbench.studies.mteb_scores"] == "03_quantization" != owner["workbench.studies.storage"]
    assert set(owner) == {m for m in _modules() if _room(m) == "studies" and m != "workbench.studies"}, \
        "every study module is used by a notebook"


def test_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in graph[node]:
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_a_violation(tmp_path):
    """The walk finds a lazy import inside a function, the kind a layering slip hides in."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from workbench.run.results import record\n    import workbench.index.engines\n")
    assert _imports(probe) == {"workbench.run.results", "workbench.index.engines"}


def test_every_module_imports_in_a_fresh_interpreter():
    importable = sorted(m for m in _modules() if not m.endswith("__main__"))  # __main__ runs the CLI
    script = ("import importlib, sys, traceback\nfailed = []\n"
              f"for name in {importable!r}:\n"
              "    try:\n        importlib.import_module(name)\n"
              "    except Exception:\n        failed.append(name + ': ' + traceback.format_exc(limit=2))\n"
              "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"split these modules: {long}"

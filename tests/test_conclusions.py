"""The study protocol: each study's conclusions (its results with their labels, its claim function) are one record
naming its `catalog.Study`, and a run records them through `Run.conclude` only."""

import ast
import importlib
import json

import pytest

from workbench.core.paths import NOTEBOOKS_DIR, PROJECT_ROOT
from workbench.run import catalog
from workbench.run.claims import Claim
from workbench.run.conclusions import Conclusions, Result
from workbench.run.index_page import headline
from workbench.run.results import Run, load_results

CLAIM = Claim("~8GB", "seed 000", "size (GB)", "8.04 GB", "7–9 GB", "the quote", "holds")


def _conclusions(study=catalog.SCALE, claims=(CLAIM,)):
    return Conclusions(study, results=lambda measured: [
        Result("size_gb_int8", measured["size"], "size, int8 (GB)"),
        Result("load_s_int8", None, note="not measured (stopped): past the memory limit"),
        Result("convert_s_int8", 12.5)], claims=lambda measured: list(claims))


def test_conclude_records_each_result_with_its_label_and_note_and_the_claims(tmp_path):
    run = Run(tmp_path, catalog.SCALE, {})
    assert run.conclude(_conclusions(), {"size": 4.02}) == [CLAIM]
    stored = load_results(tmp_path)
    assert stored["notebook"] == "05_scale"
    assert stored["results"] == {"size_gb_int8": 4.02, "load_s_int8": None, "convert_s_int8": 12.5}
    assert stored["headline"] == ["size_gb_int8"] and stored["labels"] == {"size_gb_int8": "size, int8 (GB)"}
    assert stored["notes"] == {"load_s_int8": "not measured (stopped): past the memory limit"}
    assert [c["verdict"] for c in stored["claims"]] == ["holds"]
    assert headline([stored]) == (["size, int8 (GB)"], [["4.02"]])


def test_a_cell_run_twice_records_its_claims_once(tmp_path):
    run = Run(tmp_path, catalog.SCALE, {})
    run.conclude(_conclusions(), {"size": 4.02})
    run.conclude(_conclusions(), {"size": 4.03})
    stored = load_results(tmp_path)
    assert len(stored["claims"]) == 1 and stored["results"]["size_gb_int8"] == 4.03
    assert stored["headline"] == ["size_gb_int8"]


def test_a_run_refuses_another_studys_conclusions_and_records_nothing(tmp_path):
    run = Run(tmp_path, catalog.PRECISION, {})
    with pytest.raises(ValueError, match="study 05_scale's; this run is 01_precision_accuracy's"):
        run.conclude(_conclusions(catalog.SCALE), {"size": 1.0})
    assert load_results(tmp_path)["results"] == {} and load_results(tmp_path)["claims"] == []


def _study_modules():
    folder = PROJECT_ROOT / "workbench" / "studies"
    return {f"workbench.studies.{p.stem}": importlib.import_module(f"workbench.studies.{p.stem}")
            for p in sorted(folder.glob("*.py")) if p.stem != "__init__"}


def test_every_study_in_the_catalog_has_exactly_one_conclusions():
    found = {name: module.CONCLUSIONS for name, module in _study_modules().items() if hasattr(module, "CONCLUSIONS")}
    assert all(isinstance(c, Conclusions) for c in found.values())
    studies = [c.study for c in found.values()]
    assert sorted(s.name for s in studies) == sorted(s.name for s in catalog.STUDIES), found
    assert all(catalog.find(s.name) is s for s in studies), "each names the catalog's own record"


def _call(tree, name):
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == name]
    return call


@pytest.mark.parametrize("study", catalog.STUDIES, ids=lambda s: s.name)
def test_each_notebook_starts_and_concludes_its_run_with_its_own_studys_conclusions(study):
    """The notebook names its study once, through the conclusions it records: no name written out by hand."""
    cells = json.loads((NOTEBOOKS_DIR / f"{study.name}.ipynb").read_text(encoding="utf-8"))["cells"]
    tree = ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
    aliases = {a.asname or a.name: a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and n.module == "workbench.studies" for a in n.names}
    started = _call(tree, "start_run").args[1]  # <module>.CONCLUSIONS.study
    concluded = _call(tree, "conclude").args[0]  # <module>.CONCLUSIONS
    assert ast.unparse(started) == ast.unparse(concluded) + ".study"
    module = importlib.import_module(f"workbench.studies.{aliases[concluded.value.id]}")
    assert module.CONCLUSIONS.study is study

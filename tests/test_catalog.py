"""The catalog of studies matches the notebooks, and the suite and the dry run take their facts from it."""

from pathlib import Path

import pytest

from workbench.core.paths import NOTEBOOKS_DIR
from workbench.run import catalog
from workbench.run.estimates import ram_estimate
from workbench.run.suite import SuiteEntry, notebook_parameters


def test_every_notebook_has_one_study_and_every_study_its_notebook():
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")) == [s.name for s in catalog.STUDIES]
    assert all(s.notebook.exists() and catalog.find(s.name) is s for s in catalog.STUDIES)
    assert catalog.find("99_missing") is None


@pytest.mark.parametrize("study", catalog.STUDIES, ids=lambda s: s.name)
def test_model_parameters_are_parameters_the_notebook_declares(study):
    assert set(study.model_parameters) <= set(notebook_parameters(study.notebook))


def test_a_study_reads_only_studies_that_read_nothing():
    """The suite runs every reading study after all the others in one pass, so a reader of a reader would run
    before what it reads."""
    for study in catalog.STUDIES:
        assert all(read in catalog.STUDIES and not read.reads for read in study.reads), study.name


def test_the_suite_orders_by_what_a_study_reads():
    entries = {s.name: SuiteEntry(s.name, s.notebook, {}) for s in catalog.STUDIES}
    assert [name for name, entry in entries.items() if entry.reads_other_runs] == ["07_deployment"]
    assert not SuiteEntry("mine", Path("elsewhere/08_mine.ipynb"), {}).reads_other_runs


def test_the_ram_floor_reads_the_catalogs_model_parameters():
    minilm = {"model": "all-minilm-l6-v2"}
    assert "fp32 weights of all-minilm-l6-v2" in ram_estimate(SuiteEntry("p", catalog.PRECISION.notebook, minilm))
    assert ram_estimate(SuiteEntry("c", catalog.CAPACITY.notebook, minilm)) == "no estimate"

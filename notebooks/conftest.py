"""nbval's runs of the committed notebooks: a study that reads other studies' runs (07 reads 03 and 06) runs only
in a session that runs those too, after them (nbval takes the notebooks in name order); alone, it is skipped and
says which notebooks it needs."""

from __future__ import annotations

import pytest

from workbench.run import catalog


def pytest_collection_modifyitems(items) -> None:
    collected = {item.path.stem for item in items}
    for study in catalog.STUDIES:
        missing = [read.name for read in study.reads if read.name not in collected]
        if study.name not in collected or not missing:
            continue
        needs = " ".join(f"notebooks/{name}.ipynb" for name in missing)
        marker = pytest.mark.skip(reason=f"{study.name} reads the runs of {', '.join(missing)}, which this session "
                                         f"does not run: `pytest notebooks/` or `pytest {needs} "
                                         f"notebooks/{study.name}.ipynb`")
        for item in items:
            if item.path.stem == study.name:
                item.add_marker(marker)

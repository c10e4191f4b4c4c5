"""What `workbench run --dry-run` can say about a cell's RAM before running it.

A declared `ram_gb:` is the user's figure. Otherwise a floor where one follows from the parameters alone: a cell
that loads or builds a registry model holds at least its weights in fp32 (4 bytes per parameter). Conversions
peak well above that (study 05 measures by how much), so the figure is labelled as a lower bound.
"""

from __future__ import annotations

from workbench.core.models import spec_for
from workbench.core.units import GB, MILLION
from workbench.run import catalog
from workbench.run.suite import SuiteEntry, notebook_defaults

FP32_BYTES = 4


def ram_estimate(entry: SuiteEntry) -> str:
    """The declared RAM, or the fp32-weights floor of the largest registry model the cell names, as words."""
    if entry.ram_gb:
        return f"{entry.ram_gb:g} GB (declared)"
    parameters = {**notebook_defaults(entry.notebook), **entry.parameters}
    study = catalog.find(entry.notebook.stem)
    names = []
    for key in (study.model_parameters if study else ()):
        value = parameters.get(key, [])
        names += value if isinstance(value, list) else [value]
    specs = [spec for spec in (spec_for(str(n)) for n in names) if spec and spec.params_millions]
    if not specs:
        return "no estimate"
    largest = max(specs, key=lambda s: s.params_millions)
    return f">= {largest.params_millions * MILLION * FP32_BYTES / GB:.2g} GB (fp32 weights of {largest.name})"

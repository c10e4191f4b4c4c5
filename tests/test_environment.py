"""The conda environment and pyproject.toml must install the same pinned packages; `make lab` starts as root."""

import os
import re
import subprocess
import tomllib

import yaml

from workbench.core.paths import PROJECT_ROOT


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower().replace("_", "-")


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = {_normalise(r) for r in pip_section if r != "-e ."}
    assert conda_pins == {_normalise(r) for r in project}
    assert all("==" in r for r in project), "every dependency is pinned exactly"
    assert "-e ." in pip_section


def test_torch_and_numpy_pins_the_stack_needs():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in project
    numpy = next(r for r in project if r.startswith("numpy=="))
    major, minor = map(int, numpy.split("==")[1].split(".")[:2])
    assert (major, minor) < (2, 4), "coremltools 9 breaks on numpy >= 2.4 (upstream issue 2633)"


def test_make_lab_passes_allow_root_as_root_and_says_so(tmp_path):
    """JupyterLab refuses to start as root without --allow-root; `make lab` adds it then, and only then."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    jupyter = venv / "bin" / "jupyter"
    jupyter.write_text('#!/bin/sh\necho "jupyter called with: $*"\n')
    jupyter.chmod(0o755)
    (venv / ".installed").touch()  # newer than pyproject.toml: `setup` has nothing to do
    out = subprocess.run(["make", "-s", "-C", str(PROJECT_ROOT), "lab", f"VENV={venv}"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    root = os.getuid() == 0
    assert "jupyter called with: lab notebooks/" in out
    assert ("--allow-root" in out) == root and ("running as root" in out) == root

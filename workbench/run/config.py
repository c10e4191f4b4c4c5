"""Run configuration: YAML at the edge, a typed dataclass inside, and where each value came from.

Resolution, highest first (as in the seed's embedding service): explicit command-line
values, an explicit config path (--config), WORKBENCH_CACHE_DIR (for cache_dir), the
WORKBENCH_CONFIG environment variable, ./workbench.yaml, ~/.config/workbench/config.yaml,
built-in defaults.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, fields
from pathlib import Path

from workbench.core.files import NotUtf8Error, read_utf8
from workbench.core.paths import CACHE_ENV, DEFAULT_CACHE, PROJECT_ROOT, REPORTS_DIR

DEFAULT_SUITE = PROJECT_ROOT / "suites" / "default.yaml"
ENV_CONFIG = "WORKBENCH_CONFIG"
EXECUTORS = ("local", "dask")


class ConfigError(ValueError):
    """A config file or value is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class RunConfig:
    """Settings of a `workbench run`."""

    suite: str = str(DEFAULT_SUITE)  # suite YAML to execute
    reports: str = str(REPORTS_DIR)  # where run folders and index.html go
    jobs: int = 1  # parameter sets executed in parallel
    kernel: str = "python3"  # Jupyter kernel papermill starts
    cache_dir: str = str(DEFAULT_CACHE)  # embeddings cache; "off" disables it
    force: bool = False  # re-run sets whose results.json is complete
    progress: bool = True  # the suite's progress bar
    executor: str = "local"  # "local": threads on this machine; "dask": a Dask cluster
    scheduler: str = ""  # Dask scheduler address (tcp://host:8786); empty starts a LocalCluster of `jobs` workers
    retries: int = 2  # times a cell is run again after its Dask worker died mid-cell

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"str": str, "int": int, "bool": bool}[f.type]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{f.name}: expected {f.type}, got {type(value).__name__} {value!r}")
        if self.jobs < 1:
            raise ConfigError(f"jobs must be >= 1; got {self.jobs}")
        if self.executor not in EXECUTORS:
            close = difflib.get_close_matches(self.executor, EXECUTORS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}{hint}")
        if self.scheduler and self.executor != "dask":
            raise ConfigError(f"scheduler {self.scheduler!r} is for the Dask executor; add --executor dask")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0; got {self.retries}")


def _known() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def read_config_file(path: str | Path) -> dict:
    """Values from one YAML file, keys checked against RunConfig (close-match suggestions)."""
    import yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(read_utf8(path)) or {}
    except NotUtf8Error as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    for key in values:
        if key not in _known():
            close = difflib.get_close_matches(str(key), _known(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{path}: unknown key {key!r}{hint} Known keys: {', '.join(_known())}")
    return values


def config_layers(explicit_path: str | None = None, environ=None, cwd: Path | None = None,
                  home: Path | None = None) -> list[tuple[str, dict]]:
    """(source, values) from lowest to highest precedence, files only (CLI values go on top)."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    layers = []
    candidates = [home / ".config" / "workbench" / "config.yaml", cwd / "workbench.yaml"]
    for path in candidates:
        if path.is_file():
            layers.append((str(path), read_config_file(path)))
    if environ.get(ENV_CONFIG):
        layers.append((f"${ENV_CONFIG} ({environ[ENV_CONFIG]})", read_config_file(environ[ENV_CONFIG])))
    if environ.get(CACHE_ENV) is not None:  # documented as the cache switch: above config files, below --config
        layers.append((f"${CACHE_ENV}", {"cache_dir": environ[CACHE_ENV]}))
    if explicit_path:
        layers.append((f"--config {explicit_path}", read_config_file(explicit_path)))
    return layers


def resolve_config(cli: dict | None = None, explicit_path: str | None = None, environ=None, cwd: Path | None = None,
                   home: Path | None = None) -> tuple[RunConfig, dict[str, str]]:
    """The effective RunConfig and, for each setting, the source it came from."""
    values = {name: getattr(RunConfig, name) for name in _known()}
    sources = dict.fromkeys(values, "default")
    for source, layer in config_layers(explicit_path, environ, cwd, home):
        values.update(layer)
        sources.update(dict.fromkeys(layer, source))
    for key, value in (cli or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = "command line"
    return RunConfig(**values), sources

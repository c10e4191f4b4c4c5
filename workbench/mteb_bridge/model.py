"""`workbench.mteb_model`: one artifact of a model, built or taken from the artifact cache, as an MTEB model.

For a user with hub access this runs any named MTEB task on what they ship:

    import mteb, workbench as wb
    model = wb.mteb_model("all-minilm-l6-v2", format="onnx", variant="int8")
    mteb.evaluate(model, mteb.get_tasks(tasks=["STSBenchmark"]))

With none, `workbench.mteb_bridge.tasks.local_tasks` turns the workbench's own data into MTEB tasks.
"""

from __future__ import annotations

from workbench.convert import artifacts, measure, pipeline, registry
from workbench.convert.registry import RunsOn
from workbench.convert.rows import Status
from workbench.core import provenance
from workbench.core.embedding import Recipe
from workbench.core.models import DEFAULT_MODEL, LoadedModel, load_model
from workbench.core.precision import PlatformNotAvailable
from workbench.mteb_bridge.encoder import ArtifactEncoder, live_embed, model_meta


def _artifact_path(loaded: LoadedModel, model: str, fmt: str, variant: str, recipe: Recipe) -> str:
    """The artifact's path: from the artifact cache, or converted now in a child (its base variant first)."""
    limits = pipeline.Limits(pipeline.default_memory_limit(), preload=measure.CHILD_PRELOAD)

    def cache_key(converter: registry.Converter, v: str, base_key: str) -> str:
        return artifacts.artifact_key(converter, v, loaded, recipe, base_key)

    rows = pipeline.run(pipeline.Checkpoint(model), loaded.spec, pipeline.plan([fmt], [variant]), recipe,
                        measure.probe(loaded, recipe), limits, preflight_model=loaded, cache_key=cache_key,
                        model=model)
    row = next(r for r in rows if (r.format, r.variant) == (fmt, variant))
    if row.path is None or row.status is not Status.MEASURED:
        raise RuntimeError(f"{row.key} of {model} could not be built here ({row.status.value}): "
                           + "; ".join(row.notes))
    return row.path


def _representative_runtime(fmt: str, path: str, loaded: LoadedModel, recipe: Recipe) -> registry.Runtime | None:
    """The artifact opened in its runtime where that runs here at a representative speed; None where the stand-in
    embeds instead (as 03 decides)."""
    try:
        runtime = registry.get(fmt).load(path, loaded.spec, recipe)
    except PlatformNotAvailable:
        return None
    return runtime if runtime.representative else None


def mteb_model(model: str = DEFAULT_MODEL, format: str = "torch", variant: str = "fp32",
               recipe: Recipe | None = None, runs_on: RunsOn | None = None, batch_size: int = 32) -> ArtifactEncoder:
    """An object that follows mteb 2's encoder protocol, embedding with one artifact of `model`.

    `recipe` defaults to the on-device recipe with the model's own pooling (artifacts take a fixed token count:
    longer texts are cut there). `runs_on` forces the runtime or the stand-in; by default the runtime runs where
    it is representative here. The model meta names the format, variant and which of the two made the vectors.
    """
    loaded = load_model(model)
    recipe = recipe or Recipe(pooling=loaded.spec.pooling)
    opened: registry.Runtime | None = None
    if (format, variant) == measure.REFERENCE:
        path, sha256, chosen = "", "", runs_on or "runtime"
    else:
        path = _artifact_path(loaded, model, format, variant, recipe)
        sha256 = artifacts.content_sha256(path)
        if runs_on is None:
            opened = _representative_runtime(format, path, loaded, recipe)
        chosen = runs_on or ("runtime" if opened is not None else "stand-in")
    runner, _, _ = measure.runner_for(loaded, format, variant, path, sha256, recipe, chosen == "runtime", opened)
    meta = model_meta(loaded.spec, format, variant, chosen, recipe, provenance.revision_label(provenance.of(loaded)),
                      measure.parameter_count(loaded))
    return ArtifactEncoder(live_embed(runner, recipe, batch_size), meta, normalized=recipe.normalize)

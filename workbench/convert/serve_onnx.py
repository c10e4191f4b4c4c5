"""ONNX Runtime serving an artifact for `core.serving`: onnxruntime and numpy only, as an ONNX server imports.

Run as a script (never imported by the package), so the workbench's converters, and torch with them, stay out.
"""

from __future__ import annotations

from pathlib import Path


def load(artifact: str, fmt: str, spec: dict, recipe: dict):
    import onnxruntime as ort

    # "model.onnx" is onnx.MODEL_FILE, written out: importing the converter module would bring torch in
    session = ort.InferenceSession(str(Path(artifact) / "model.onnx"), providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name
    return lambda ids, mask: session.run([output], {"input_ids": ids, "attention_mask": mask})[0]


if __name__ == "__main__":
    from workbench.core import serving

    serving.serve(load)

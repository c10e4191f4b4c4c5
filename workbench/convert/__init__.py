"""Exporters for on-device runtimes, one module each, behind one interface (`registry.Converter`).

Importing this package registers every format; a new format is one module ending in
`register(Converter(...))` plus its import line here.
"""

from workbench.convert import coreml, coreml_lean, mlx, onnx, onnx_lean  # noqa: F401 - each module registers its converter

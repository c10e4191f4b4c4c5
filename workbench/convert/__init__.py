"""Exporters for on-device runtimes: Core ML, ONNX Runtime and MLX, one module each.

Every export or compression writes an artifact on disk and returns its path; each
module's `preflight()` names a known incompatibility and its fix before any work.
"""

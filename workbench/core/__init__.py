"""The measuring core: models, embedding, pooling, metrics, data, resources. Imports nothing above it."""

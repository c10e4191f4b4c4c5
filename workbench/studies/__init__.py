"""One module per study notebook: the computations each notebook shows."""

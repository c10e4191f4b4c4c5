"""Vector storage and search: engine adapters, sweep vectors, the capacity sweep, its fits, the planner."""

"""Deployment: from the studies' measured rows and a device's budgets to the configuration to ship."""

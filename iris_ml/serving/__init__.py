"""Serving: the launcher, the worker app and the layer around MLflow's scoring app."""

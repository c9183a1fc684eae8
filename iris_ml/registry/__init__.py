"""The MLflow registry: versions, aliases and their history, tag names, the download cache."""

"""Developer tools run by make targets (not installed with the package)."""

"""The one ``iris-ml`` command."""

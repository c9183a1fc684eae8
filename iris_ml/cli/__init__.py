"""The one ``iris-ml`` command (``main``) and the operations that combine stages."""

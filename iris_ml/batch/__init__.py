"""Batch scoring beyond one server: ``iris-ml batch`` on Spark (issue 31)."""

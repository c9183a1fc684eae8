"""Put on PYTHONPATH to start a process as if boto3 were not installed (its import fails)."""

import sys

sys.modules["boto3"] = None  # `import boto3` now raises ModuleNotFoundError

"""Every tag name the project writes on runs, versions and models: one home, so readers agree."""

from __future__ import annotations

# On a version (and its training run): the gate's verdict and why.
GATE_TAG = "gate"
GATE_REASON_TAG = "gate_reason"
GATE_PASSED, GATE_REJECTED = "passed", "rejected"
# The candidate beside the champion on the same held-out rows, and how many rows.
GATE_COMPARISON_TAG = "gate_comparison"
GATE_ROWS_TAG = "gate_rows"
RUN_ID_TAG = "run_id"
# On the training run and its version: the digest of the data it trained on.
DATASET_DIGEST_TAG = "dataset_digest"
REGISTERED_VERSION_TAG = "registered_version"
# On a version: the monitor's latest verdict (JSON).
DRIFT_TAG = "drift_status"
# Alias moves: moved.<alias>.<epoch ms> on the version, moved.<alias> on the model (the latest).
MOVE_TAG_PREFIX = "moved."


def gate_value(promote: bool) -> str:
    return GATE_PASSED if promote else GATE_REJECTED


def alias_tag(alias: str) -> str:
    """The tag that stands for an alias where the registry has no aliases (``alias.<name>``)."""
    return f"alias.{alias}"


def latest_move_tag(alias: str) -> str:
    return f"{MOVE_TAG_PREFIX}{alias}"


def move_tag(alias: str, at_ms: int) -> str:
    return f"{latest_move_tag(alias)}.{at_ms}"

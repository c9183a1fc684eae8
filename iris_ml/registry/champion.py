"""Champion operations: show, history, set, rollback (``iris-ml champion``).

Every move of the alias is recorded in the registry itself, as a tag on the
version that received it: ``moved.<alias>.<epoch ms>`` = JSON ``{"from", "by",
"reason"}``; the model's own ``moved.<alias>`` tag repeats the latest move (with
``version`` and ``at``) where the registry's model page shows it. Version tags are what every registry here supports (SQLite,
PostgreSQL behind ``mlflow server``, an Azure ML workspace, where the alias
itself may be a tag too: ``registry.promote``), so history needs no other store
and reads back with one search.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from iris_ml.commands import EXIT_FAILED, HelpFormatter, command_parser
from iris_ml.registry.tags import (
    GATE_REASON_TAG,
    GATE_REJECTED,
    GATE_TAG,
    latest_move_tag,
    move_tag,
)
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

# MLflow caps a model version tag's value; a reason is a sentence, not a document.
MAX_REASON_CHARS = 1000
METRIC_TAGS = ("accuracy", "f1_macro", "log_loss")


class ChampionError(Exception):
    """A champion operation was refused; the message says why, in one sentence."""


@dataclass(frozen=True)
class Move:
    at_ms: int
    version: str
    previous: str | None
    by: str
    reason: str

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def actor() -> str:
    """Who is moving the alias: the CI actor, the tracking user, or the OS user."""
    if os.environ.get("GITHUB_ACTOR"):
        return f"{os.environ['GITHUB_ACTOR']} (GitHub Actions)"
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or getpass.getuser()


def move(
    client: Any, model_name: str, alias: str, version: str, by: str, reason: str
) -> tuple[Move, str]:
    """Point the alias at ``version`` and record the move on that version.

    Returns the move and how the registry took it: 'alias', or 'tag' where it has no aliases.
    """
    from iris_ml.registry.versions import promote, resolve_alias

    current = resolve_alias(client, model_name, alias)
    previous = str(current.version) if current is not None else None
    how = promote(client, model_name, alias, version)
    record = Move(int(time.time() * 1000), str(version), previous, by, reason[:MAX_REASON_CHARS])
    value = json.dumps({"from": record.previous, "by": record.by, "reason": record.reason})
    client.set_model_version_tag(model_name, str(version), move_tag(alias, record.at_ms), value)
    latest = {"version": record.version, "at": record.at, **json.loads(value)}
    client.set_registered_model_tag(model_name, latest_move_tag(alias), json.dumps(latest))
    return record, how


def history(client: Any, model_name: str, alias: str) -> list[Move]:
    """Every recorded move of ``alias``, oldest first."""
    prefix = f"{latest_move_tag(alias)}."
    moves = []
    for version in client.search_model_versions(f"name='{model_name}'"):
        for key, value in version.tags.items():
            if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
                continue
            try:
                data = json.loads(value)
            except ValueError:
                continue  # a hand-written tag: not ours
            moves.append(
                Move(
                    int(key[len(prefix) :]),
                    str(version.version),
                    data.get("from"),
                    str(data.get("by", "")),
                    str(data.get("reason", "")),
                )
            )
    return sorted(moves, key=lambda m: m.at_ms)


@dataclass(frozen=True)
class Status:
    model_name: str
    alias: str
    version: str | None
    since: str | None
    gate: str | None
    gate_reason: str | None
    metrics: dict[str, str]
    run_id: str | None


def status(client: Any, model_name: str, alias: str) -> Status:
    from iris_ml.registry.versions import resolve_alias

    current = resolve_alias(client, model_name, alias)
    if current is None:
        return Status(model_name, alias, None, None, None, None, {}, None)
    version = str(current.version)
    moves = [m for m in history(client, model_name, alias) if m.version == version]
    tags = current.tags
    return Status(
        model_name,
        alias,
        version,
        moves[-1].at if moves else None,
        tags.get(GATE_TAG),
        tags.get(GATE_REASON_TAG),
        {name: tags[name] for name in METRIC_TAGS if name in tags},
        current.run_id,
    )


def set_champion(
    client: Any, model_name: str, alias: str, version: str, reason: str, force: bool = False
) -> Move | None:
    """Move the alias to ``version``; None when it is already there. Refuses gate rejects."""
    from mlflow.exceptions import MlflowException

    from iris_ml.registry.versions import resolve_alias

    try:
        target = client.get_model_version(model_name, version)
    except MlflowException:
        raise ChampionError(f"{model_name} has no version {version}.") from None
    if target.tags.get(GATE_TAG) == GATE_REJECTED and not force:
        why = target.tags.get(GATE_REASON_TAG, "no reason recorded")
        raise ChampionError(
            f"Version {version} was rejected by the gate ({why}); pass --force to make it "
            f"'{alias}' anyway."
        )
    current = resolve_alias(client, model_name, alias)
    if current is not None and str(current.version) == str(version):
        return None
    if force and target.tags.get(GATE_TAG) == GATE_REJECTED:
        reason = f"{reason} (forced past the gate)"
    return move(client, model_name, alias, version, actor(), reason)[0]


def rollback(client: Any, model_name: str, alias: str, reason: str) -> Move:
    """Back to the version that held the alias before its last move."""
    from iris_ml.registry.versions import resolve_alias

    current = resolve_alias(client, model_name, alias)
    if current is None:
        raise ChampionError(f"No version of {model_name} is '{alias}': nothing to roll back.")
    moves = [m for m in history(client, model_name, alias) if m.version == str(current.version)]
    if not moves or moves[-1].previous is None:
        raise ChampionError(
            f"Version {current.version} has no recorded predecessor as '{alias}': use "
            "`set VERSION --reason ...` to choose one."
        )
    target = moves[-1].previous
    reason = f"rollback from {current.version}: {reason}"
    return move(client, model_name, alias, target, actor(), reason)[0]


def format_status(s: Status) -> str:
    if s.version is None:
        return f"No version of {s.model_name} is '{s.alias}' yet. Train one: make train"
    lines = [
        f"{s.model_name} '{s.alias}' is version {s.version}",
        f"  since:   {s.since or 'unknown (moved before moves were recorded)'}",
        f"  gate:    {s.gate or 'not recorded'}"
        + (f" ({s.gate_reason})" if s.gate_reason and s.gate != "passed" else ""),
        "  metrics: " + (", ".join(f"{k}={v}" for k, v in s.metrics.items()) or "not recorded"),
        f"  run:     {s.run_id or 'unknown'}",
    ]
    return "\n".join(lines)


def format_move(m: Move) -> str:
    origin = f"from {m.previous}" if m.previous else "first"
    return f"{m.at}  version {m.version} ({origin})  by {m.by}: {m.reason}"


def _reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("say why: the reason is recorded with the move")
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("champion", __doc__)
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--alias", default=DEFAULT_ALIAS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True, metavar="{show,history,set,rollback}")
    sub.add_parser(
        "show",
        formatter_class=HelpFormatter,
        help="which version, since when, its metrics and gate decision",
    )
    sub.add_parser(
        "history",
        formatter_class=HelpFormatter,
        help="every recorded move: when, from which version, who, why",
    )
    set_p = sub.add_parser("set", formatter_class=HelpFormatter, help="point the alias at VERSION")
    set_p.add_argument("version")
    set_p.add_argument("--reason", required=True, type=_reason, help="why, recorded with the move")
    set_p.add_argument("--force", action="store_true", help="allow a version the gate rejected")
    back = sub.add_parser(
        "rollback", formatter_class=HelpFormatter, help="back to the version before the last move"
    )
    back.add_argument("--reason", default="rolled back", help="why, recorded with the move")
    return p


def run(args: argparse.Namespace, client: Any) -> str:
    name, alias = args.model_name, args.alias
    if args.command == "show":
        s = status(client, name, alias)
        return json.dumps(asdict(s)) if args.json else format_status(s)
    if args.command == "history":
        moves = history(client, name, alias)
        if args.json:
            return json.dumps([{**asdict(m), "at": m.at} for m in moves])
        return "\n".join(map(format_move, moves)) or f"No recorded moves of '{alias}'."
    if args.command == "set":
        done = set_champion(client, name, alias, args.version, args.reason, args.force)
        if done is None:
            return f"Version {args.version} is already '{alias}'; nothing moved."
        return f"'{alias}' -> version {done.version} (was {done.previous or 'unset'})"
    done = rollback(client, name, alias, args.reason)
    return f"'{alias}' rolled back -> version {done.version} (was {done.previous})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from iris_ml.tracking.store import store_refused

    if store_refused():
        return EXIT_FAILED
    try:
        print(run(args, MlflowClient()))
    except ChampionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except MlflowException as exc:
        print(f"error: the registry refused: {exc.message.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

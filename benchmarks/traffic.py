"""Send Fisher-like or shifted traffic to a scoring endpoint (the drift walkthrough's source).

    python -m benchmarks.traffic --url http://127.0.0.1:5001 --rows 2000
    python -m benchmarks.traffic --url http://127.0.0.1:5001 --rows 2000 --shift petal

``normal`` draws flowers from Fisher's 150 with a little measurement noise (what the
model was trained on); ``petal`` makes petals longer and wider (a new cultivar, or a
gauge read in the wrong place), leaving the sepals as they were, so a monitor should
name the petal features and nothing else. Fixed seed: the same rows every time.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from iris_ml.contract import FEATURE_NAMES, FEATURES

SHIFTS = ("normal", "petal")


def make_rows(count: int, shift: str = "normal", seed: int = 0) -> np.ndarray:
    """``count`` rows in FEATURE_NAMES order, valid under the contract, rounded to 0.1 cm."""
    from iris_ml.training.data import load_dataset

    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {SHIFTS}")
    rng = np.random.default_rng(seed)
    fisher = load_dataset()[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    rows = fisher[rng.integers(0, len(fisher), count)] + rng.normal(0, 0.05, (count, 4))
    if shift == "petal":
        petal = [FEATURE_NAMES.index("petal_length"), FEATURE_NAMES.index("petal_width")]
        rows[:, petal] = rows[:, petal] * 1.25 + [1.2, 0.4]
    maxima = np.array([f.maximum for f in FEATURES])
    return np.clip(rows, 0.1, maxima).round(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.traffic", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5001")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--shift", choices=SHIFTS, default="normal")
    parser.add_argument("--per-request", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from score_client import ScoringClient, ScoringError

    rows = make_rows(args.rows, args.shift, args.seed)
    records = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in rows.tolist()]
    try:
        with ScoringClient(args.url) as client:
            for start in range(0, len(records), args.per_request):
                client.predict(records[start : start + args.per_request])
    except ScoringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"sent {len(records)} {args.shift} rows to {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

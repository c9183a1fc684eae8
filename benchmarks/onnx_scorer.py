"""ONNX Runtime beside the numpy linear scorer, for a worker that must not import scikit-learn
(`make bench-onnx`; issue 34 asks to prefer the maintained library unless it measures worse).

One fitted champion pipeline (the project's own ``build_pipeline`` on the bundled data),
scored three ways in one run on one machine:

* scikit-learn   ``predict_proba`` of the pipeline: the reference every answer is held to
* numpy          ``iris_ml/linear_scorer.py`` reading ``linear_scorer.json``
* onnxruntime    the pipeline converted by skl2onnx in double precision, no ZipMap

For each: the largest difference from scikit-learn's probabilities on a grid over the valid
range, a fresh interpreter's import-and-load time and peak RSS, and the median time of
one call on 1 and on 10,000 rows. onnxruntime and skl2onnx are not project dependencies:
this script installs them, pinned, into a throwaway venv beside this venv's numpy and
scikit-learn (requirements.lock's), and removes it after.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from benchmarks.bench import PEAK_RSS_KB, REPO

ONNX_PACKAGES = ("onnxruntime==1.32.0", "skl2onnx==1.20.0", "onnx==1.23.2")
SHARED_PACKAGES = ("numpy", "scikit-learn", "scipy", "joblib", "threadpoolctl")

# Run in a fresh interpreter: load a scorer, then time calls. argv: kind, model file, reps.
_MEASURE = r"""
import json, sys, time
started = time.perf_counter()
kind, path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "onnxruntime":
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    score = lambda m: session.run(["probabilities"], {name: m})[0]
elif kind == "numpy":
    import numpy as np
    from pathlib import Path
    from iris_ml.linear_scorer import LinearScorer
    score = LinearScorer.read(Path(path)).probabilities
else:
    import pickle
    import numpy as np
    with open(path, "rb") as f:
        score = pickle.load(f).predict_proba
loaded = time.perf_counter() - started
rss = PEAK_RSS_KB / 1024
grid = np.load(sys.argv[4])
answers = score(grid)
np.save(sys.argv[5], answers)
out = {"load_s": loaded, "peak_mb": rss}
for rows in (1, 10_000):
    m = np.ascontiguousarray(np.resize(grid, (rows, 4)))
    score(m)
    times = []
    for _ in range(reps):
        t = time.perf_counter(); score(m); times.append(time.perf_counter() - t)
    times.sort()
    out[f"call_{rows}_us"] = times[len(times) // 2] * 1e6
print(json.dumps(out))
"""

_CONVERT = r"""
import pickle, sys
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType
with open(sys.argv[1], "rb") as f:
    pipeline = pickle.load(f)
onnx = to_onnx(pipeline, initial_types=[("features", DoubleTensorType([None, 4]))],
               options={id(pipeline.steps[-1][1]): {"zipmap": False}}, target_opset=18)
open(sys.argv[2], "wb").write(onnx.SerializeToString())
"""


def fitted_pipeline(work: Path) -> Path:
    """The project's pipeline fitted on the bundled data: its pickle and linear_scorer.json."""
    from iris_ml.contract import FEATURE_NAMES
    from iris_ml.linear_scorer import LinearScorer
    from iris_ml.training.data import TARGET, load_dataset
    from iris_ml.training.pipeline import build_pipeline
    from iris_ml.training.settings import TrainSettings

    data = load_dataset()
    pipeline = build_pipeline(TrainSettings()).fit(
        data[list(FEATURE_NAMES)].to_numpy(), data[TARGET]
    )
    (work / "pipeline.pkl").write_bytes(pickle.dumps(pipeline))
    scorer = LinearScorer.from_estimator(pipeline)
    if scorer is None:
        raise SystemExit("the pipeline does not fold into a linear scorer")
    scorer.write(work / "linear_scorer.json")
    return work / "pipeline.pkl"


def grid(work: Path) -> Path:
    """Points spanning the valid range of every feature (as training checks the scorer)."""
    import numpy as np

    from iris_ml.contract import FEATURES

    axes = [np.linspace(f.maximum / 50, f.maximum, 9) for f in FEATURES]
    points = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, len(FEATURES))
    np.save(work / "grid.npy", points)
    return work / "grid.npy"


def onnx_venv(work: Path) -> Path:
    """A venv with the project's numpy and scikit-learn and the pinned ONNX packages."""
    venv = work / "onnx-venv"
    uv = str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    # The versions this venv has (requirements.lock's, for this platform).
    pins = [f"{name}=={metadata.version(name)}" for name in SHARED_PACKAGES]
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         *pins, *ONNX_PACKAGES],
        check=True,
    )  # fmt: skip
    return venv / "bin" / "python"


def measure(python: Path, kind: str, model: Path, points: Path, work: Path, reps: int) -> dict:
    answers = work / f"{kind}-answers.npy"
    out = subprocess.run(
        [str(python), "-c", _MEASURE.replace("PEAK_RSS_KB", PEAK_RSS_KB), kind, str(model), str(reps), str(points), str(answers)],
        capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout  # fmt: skip
    return {**json.loads(out.splitlines()[-1]), "answers": answers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=2000, help="timed calls per size")
    args = parser.parse_args(argv)
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="iris-onnx-"))
    try:
        pickled, points = fitted_pipeline(work), grid(work)
        side = onnx_venv(work)
        subprocess.run(
            [str(side), "-c", _CONVERT, str(pickled), str(work / "model.onnx")], check=True
        )
        figures = {
            "scikit-learn": measure(side, "scikit-learn", pickled, points, work, args.reps),
            "numpy": measure(Path(sys.executable), "numpy", work / "linear_scorer.json", points, work, args.reps),
            "onnxruntime": measure(side, "onnxruntime", work / "model.onnx", points, work, args.reps),
        }  # fmt: skip
        reference = np.load(figures["scikit-learn"]["answers"])
        print(f"ONNX Runtime beside the numpy scorer: {len(reference)} grid points, "
              f"median of {args.reps} calls; fresh interpreters.\n")  # fmt: skip
        print(
            "| scorer | max diff from scikit-learn | import + load (s) | peak RSS (MB) "
            "| 1 row (us) | 10,000 rows (us) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for kind, f in figures.items():
            diff = float(np.abs(np.load(f["answers"]) - reference).max())
            print(f"| {kind} | {diff:.1e} | {f['load_s']:.2f} | {f['peak_mb']:.0f} "
                  f"| {f['call_1_us']:.1f} | {f['call_10000_us']:.0f} |")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

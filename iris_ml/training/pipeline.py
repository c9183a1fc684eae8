"""Train, evaluate, register, gate and promote: the core of ``train.py``.

``train(settings)`` never reads ``sys.argv`` or configures MLflow's tracking
URI; it logs into the active run (``mlflow run`` provides one through
``MLFLOW_RUN_ID``) or starts one in the experiment MLflow's own environment
variables select.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from iris_ml.contract import FEATURE_NAMES, MODEL_VERSION_KEY
from iris_ml.linear_scorer import LINEAR_SCORER_ARTIFACT, LINEAR_SCORER_FILE, LinearScorer
from iris_ml.model import ESTIMATOR_ARTIFACT, predictions_from_probabilities
from iris_ml.monitoring.drift import (
    REFERENCE_PROFILE_ARTIFACT,
    REFERENCE_PROFILE_FILE,
    reference_profile,
)
from iris_ml.registry import champion as champion_moves
from iris_ml.registry import tags
from iris_ml.registry import versions as registry
from iris_ml.training.data import TARGET, load_dataset, split_dataset
from iris_ml.training.evaluation import (
    gate_metrics,
    log_classifier_evaluation,
    probabilities_from_predictions,
)
from iris_ml.training.gate import GateDecision, comparison, decide, default_thresholds
from iris_ml.training.settings import BUNDLED, TrainSettings

_log = logging.getLogger(__name__)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # iris_ml/
# What travels with the served model as source: the contract, the wrapper and the batch core.
SERVING_MODULES = (
    "__init__.py", "contract.py", "linear_scorer.py", "model.py",
    # The batch core, for the Azure ML batch deployment's script (deploy/azureml/scoring).
    "batch/__init__.py", "batch/files.py", "batch/model.py", "batch/scoring.py",
)  # fmt: skip
# The served model's runtime requirements, pinned to the versions training ran with.
SERVING_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas")


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    version: str
    metrics: dict[str, float]
    champion_before: str | None
    champion_metrics: dict[str, float] | None
    decision: GateDecision
    promoted_by: str | None  # "alias", "tag", or None when not promoted
    comparison: str = ""  # candidate beside champion on the same held-out rows (gate.comparison)
    # What this tracking server could not do and the run did differently, said once each.
    notes: tuple[str, ...] = ()


def build_pipeline(settings: TrainSettings) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=settings.C, max_iter=settings.max_iter)),
        ]
    )


def serving_requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in SERVING_REQUIREMENTS]


@contextmanager
def _timed(durations: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        durations[stage] = time.perf_counter() - started


def train(settings: TrainSettings, tags: dict[str, str] | None = None) -> TrainResult:
    """Run the whole pipeline in one MLflow run and return what happened.

    Each stage's wall time is logged as a metric ``time_<stage>_s``, so where a
    training run spends its time is on record next to what it produced.
    """
    frame = load_dataset(settings.data)
    split = split_dataset(frame, settings.test_size, settings.seed)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tags({"model_name": settings.model_name, **(tags or {})})
        stages = _Stages(settings, split, run.info.run_id, Path(tmp))
        records_inputs = stages.log_inputs(frame)
        pipeline, estimator_dir = stages.fit_and_save()
        with stages.timed("evaluate"):
            _evaluate(records_inputs, estimator_dir, split.test, pipeline, stages.notes)
        judged = stages.judge(pipeline)
        version = stages.register(judged, pipeline, estimator_dir, run.info.experiment_id)
        promoted_by = stages.promote_or_explain(judged, version)
        stages.record_outcome(judged.decision, version)
    return TrainResult(
        run_id=stages.run_id,
        model_name=settings.model_name,
        version=version,
        metrics=judged.candidate,
        champion_before=str(judged.champion.version) if judged.champion else None,
        champion_metrics=judged.champion_metrics,
        decision=judged.decision,
        promoted_by=promoted_by,
        comparison=judged.comparison,
        notes=tuple(stages.notes),
    )


@dataclass(frozen=True)
class _Judged:
    """The candidate against the gate and the current champion, on the same held-out rows."""

    candidate: dict[str, float]
    champion: Any  # the champion's ModelVersion, or None
    champion_metrics: dict[str, float] | None
    decision: GateDecision
    rows: int  # the held-out rows both were scored on
    comparison: str


class _Stages:
    """The steps of one training run, sharing its settings, data split, timings and notes."""

    def __init__(self, settings: TrainSettings, split: Any, run_id: str, tmp: Path) -> None:
        self.settings, self.split, self.run_id, self.tmp = settings, split, run_id, tmp
        self.x_train = split.train[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        self.x_test = split.test[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        self.durations: dict[str, float] = {}
        self.notes: list[str] = []
        self.client = MlflowClient()
        self.data_digest = ""  # set by log_inputs

    def timed(self, stage: str) -> Any:
        return _timed(self.durations, stage)

    def log_inputs(self, frame: pd.DataFrame) -> bool:
        """Every training setting, the split's sizes and the dataset; False if inputs are refused."""
        params = {
            **asdict(self.settings),
            "train_rows": len(self.split.train),
            "test_rows": len(self.split.test),
        }
        # `mlflow run` already logged the -P values as typed ("1"); logging our parse of the
        # same text ("1.0") would be a "changing param values" error, so those are kept.
        already = self.client.get_run(self.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in already})
        name = "iris" if self.settings.data == BUNDLED else Path(self.settings.data).name
        dataset = from_pandas(frame, name=name, targets=TARGET)
        self.data_digest = dataset.digest
        mlflow.set_tag(tags.DATASET_DIGEST_TAG, dataset.digest)
        return _log_dataset(dataset, self.notes)

    def fit_and_save(self) -> tuple[Pipeline, Path]:
        pipeline = build_pipeline(self.settings)
        with self.timed("fit"), warnings.catch_warnings():
            # An unconverged fit is a legitimate (gated) candidate, not a crash.
            warnings.simplefilter("ignore", category=UserWarning)
            pipeline.fit(self.x_train, self.split.train[TARGET])
        estimator_dir = self.tmp / ESTIMATOR_ARTIFACT
        with self.timed("save_estimator"):
            mlflow.sklearn.save_model(
                pipeline,
                str(estimator_dir),
                serialization_format="skops",
                pip_requirements=serving_requirements(),
            )
        return pipeline, estimator_dir

    def judge(self, pipeline: Pipeline) -> _Judged:
        settings = self.settings
        candidate = gate_metrics(self.split.test[TARGET], pipeline.predict_proba(self.x_test))
        mlflow.log_metrics({f"gate_{k}": v for k, v in candidate.items()})
        with self.timed("score_champion"):
            champion = registry.resolve_alias(self.client, settings.model_name, settings.alias)
            champion_metrics = _champion_metrics(settings, champion, self.split.test)
        if champion_metrics:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion_metrics.items()})
        thresholds = default_thresholds(
            settings.min_accuracy, settings.min_f1, settings.max_log_loss, settings.tolerance
        )
        decision = decide(thresholds, candidate, champion_metrics)
        rows = len(self.split.test)
        version = str(champion.version) if champion else None
        compared = comparison(candidate, champion_metrics, version, rows)
        return _Judged(candidate, champion, champion_metrics, decision, rows, compared)

    def register(
        self, judged: _Judged, pipeline: Pipeline, estimator_dir: Path, experiment_id: str
    ) -> str:
        """Log and register the model (passed or not: a rejected version stays for the record)."""
        name = self.settings.model_name
        route = _publish_route(self.client, experiment_id, self.notes)
        version_tags = {
            **{k: f"{v:.4f}" for k, v in judged.candidate.items()},
            tags.RUN_ID_TAG: self.run_id,
            tags.GATE_TAG: tags.gate_value(judged.decision.promote),
            tags.GATE_ROWS_TAG: str(judged.rows),
            tags.GATE_COMPARISON_TAG: judged.comparison,
            tags.DATASET_DIGEST_TAG: self.data_digest,
        }
        with self.timed("log_and_register"):
            kwargs = _pyfunc_kwargs(
                estimator_dir,
                str(self.tmp),
                pipeline,
                self.split.test,
                self.x_train,
                self.split.train,
            )
            registered = registry.publish_model(route, name, kwargs, tags=version_tags)
        version = str(registered.version)  # int from SQL stores, str from REST ones
        self.client.update_model_version(name, version, description=_describe(judged.candidate))
        return version

    def promote_or_explain(self, judged: _Judged, version: str) -> str | None:
        """Move the alias when the gate passed ("alias" or "tag"); else tag why not (None)."""
        name, alias = self.settings.model_name, self.settings.alias
        if not judged.decision.promote:
            self.client.set_model_version_tag(
                name, version, tags.GATE_REASON_TAG, judged.decision.summary
            )
            return None
        by = f"train.py, run {self.run_id} ({champion_moves.actor()})"
        reason = f"gate passed: {_describe(judged.candidate)}"
        _, promoted_by = champion_moves.move(self.client, name, alias, version, by, reason)
        return promoted_by

    def record_outcome(self, decision: GateDecision, version: str) -> None:
        mlflow.log_metrics({f"time_{stage}_s": s for stage, s in self.durations.items()})
        mlflow.set_tags(
            {
                tags.GATE_TAG: tags.gate_value(decision.promote),
                tags.GATE_REASON_TAG: decision.summary,
                tags.REGISTERED_VERSION_TAG: version,
            }
        )


def _describe(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def _publish_route(client: MlflowClient, experiment_id: str, notes: list[str]) -> Any:
    route = registry.publish_route(mlflow.get_tracking_uri(), client, experiment_id)
    if route == "run-artifacts":
        notes.append(
            "the model is logged as run artifacts and registered from runs:/ (the "
            "run-artifacts route: an azureml: URI, a server without logged models, or "
            f"${registry.PUBLISH_ROUTE_ENV})"
        )
    return route


def _evaluate(
    records_inputs: bool,
    estimator_dir: Path,
    test: pd.DataFrame,
    pipeline: Pipeline,
    notes: list[str],
) -> None:
    """MLflow's evaluation where the server records inputs, else the same with scikit-learn."""
    if records_inputs:
        _evaluate_with_mlflow(str(estimator_dir), test)
        return
    features = test[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    log_classifier_evaluation(test[TARGET], pipeline.predict_proba(features))
    notes.append(
        "evaluated with scikit-learn (same metric and plot names): "
        "mlflow.models.evaluate logs its data as a run input, which this server refuses"
    )


def _log_dataset(dataset: Any, notes: list[str]) -> bool:
    """The dataset as the run's input; False where the tracking server cannot record inputs."""
    try:
        mlflow.log_input(dataset, context="training")
    except MlflowException as exc:
        if not registry.route_missing(exc):
            raise
        notes.append(
            "the dataset is not logged as a run input (this tracking server has no "
            f"log-inputs route); its digest is in the tag {tags.DATASET_DIGEST_TAG}"
        )
        return False
    return True


def _evaluate_with_mlflow(estimator_uri: str, test: pd.DataFrame) -> None:
    """MLflow's classifier evaluation: metrics plus confusion-matrix and ROC plots."""
    with warnings.catch_warnings():
        # The estimator is fitted on a plain matrix; evaluate hands it a named DataFrame.
        warnings.filterwarnings("ignore", message="X has feature names")
        mlflow.models.evaluate(
            estimator_uri,
            data=test,
            targets=TARGET,
            model_type="classifier",
            evaluators=["default"],
            # SHAP explains numeric labels only; with species names it logs a skip warning.
            evaluator_config={"default": {"log_model_explainability": False}},
        )


def _champion_metrics(
    settings: TrainSettings, champion: Any, test: pd.DataFrame
) -> dict[str, float] | None:
    """Score the current champion on the candidate's held-out rows, or None if there is none."""
    if champion is None:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{champion.version}")
    predictions = model.predict(test[list(FEATURE_NAMES)])
    return gate_metrics(test[TARGET], probabilities_from_predictions(predictions))


def _pyfunc_kwargs(
    estimator_dir: Path,
    tmp: str,
    pipeline: Pipeline,
    test: pd.DataFrame,
    x_train: np.ndarray,
    train: pd.DataFrame,
) -> dict[str, Any]:
    """Everything ``log_model``/``save_model`` need, shared by both publish routes."""
    # The training data's profile travels with the model: the drift monitor needs nothing else.
    profile_path = Path(tmp) / REFERENCE_PROFILE_FILE
    profile = reference_profile(x_train, list(train[TARGET]), list(pipeline.predict(x_train)))
    profile_path.write_text(json.dumps(profile))
    code_dir = Path(tmp) / "code" / "iris_ml"
    code_dir.mkdir(parents=True)
    for module in SERVING_MODULES:
        (code_dir / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_PACKAGE_DIR / module, code_dir / module)
    artifacts = {
        ESTIMATOR_ARTIFACT: str(estimator_dir),
        REFERENCE_PROFILE_ARTIFACT: str(profile_path),
    }
    # The fast path's numbers (numpy alone can score with them), when they are scikit-learn's.
    scorer = LinearScorer.from_estimator(pipeline)
    if scorer is not None and scorer.agrees_with(pipeline):
        scorer.write(scorer_path := Path(tmp) / LINEAR_SCORER_FILE)
        artifacts[LINEAR_SCORER_ARTIFACT] = str(scorer_path)
    example = test[list(FEATURE_NAMES)].head(2).astype("float64")
    example_output = predictions_from_probabilities(
        pipeline.predict_proba(example.to_numpy()), pipeline.classes_
    )
    return {
        "python_model": str(_PACKAGE_DIR / "model_code.py"),
        "artifacts": artifacts,
        "code_paths": [str(code_dir)],
        "signature": infer_signature(example, example_output),
        "input_example": example,
        "pip_requirements": serving_requirements(),
        # MLflow only lets a loader override keys that exist: declare the slot the
        # serving launchers fill with the registry version (empty = not known).
        "model_config": {MODEL_VERSION_KEY: ""},
    }

"""Azure ML model monitoring of the live deployment (``deploy/azureml/monitor.yml``).

The schedule compares what score.py collects (``model_inputs`` joined with
``model_outputs``) with Fisher's training split, registered as an MLTable data asset,
with the local drift monitor's thresholds (iris_ml/monitoring/drift.py): the same rule in both
places. Building the reference table and checking the spec are pure; creating them goes
through the injected ``MLClient`` (deploy/orchestrate.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .settings import SPEC_DIR

MONITOR_SPEC = "monitor.yml"
REFERENCE_DATA = "iris-training"
REFERENCE_FILE = "train.csv"
# Azure's numerical and categorical drift metrics include PSI, the local monitor's measure.
# (Its two-sample KS test is not mapped: whether Azure's threshold for it is a p-value or a
# statistic could not be confirmed without a workspace.)
_MLTABLE = """\
$schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
type: mltable
paths:
  - file: ./{file}
transformations:
  - read_delimited:
      delimiter: ","
      encoding: utf8
      header: all_files_same_headers
"""


def write_reference_table(folder: Path) -> Path:
    """Fisher's training split (the features in cm and the species) as an MLTable folder."""
    from iris_ml.training.data import load_dataset, split_dataset
    from iris_ml.training.settings import TrainSettings

    defaults = TrainSettings()  # the split training uses unless told otherwise
    split = split_dataset(load_dataset(), defaults.test_size, defaults.seed)
    folder.mkdir(parents=True, exist_ok=True)
    split.train.to_csv(folder / REFERENCE_FILE, index=False)
    (folder / "MLTable").write_text(_MLTABLE.format(file=REFERENCE_FILE))
    return folder


def load_monitor(endpoint: str, colour: str, data_version: str, spec_dir: Path = SPEC_DIR) -> Any:
    """The schedule, aimed at one colour of the endpoint and one version of the reference."""
    from azure.ai.ml.entities import MonitorSchedule
    from azure.ai.ml.entities._load_functions import load_schedule

    schedule = load_schedule(
        spec_dir / MONITOR_SPEC,
        params_override=[
            {
                "create_monitor.monitoring_target.endpoint_deployment_id": f"azureml:{endpoint}:{colour}"
            }
        ],
    )
    if not isinstance(schedule, MonitorSchedule):
        raise TypeError(f"{MONITOR_SPEC} is not a monitor schedule")
    for name, signal in schedule.create_monitor.monitoring_signals.items():
        reference = getattr(signal, "reference_data", None)  # drift signals have one
        if reference is None:
            raise TypeError(f"{MONITOR_SPEC}: signal {name!r} has no reference data")
        reference.input_data.path = f"azureml:{REFERENCE_DATA}:{data_version}"
    return schedule


def monitor_problems(schedule: Any) -> list[str]:
    """What would make Azure's monitor judge differently from the local one."""
    from iris_ml.contract import FEATURE_NAMES
    from iris_ml.monitoring.drift import DriftThresholds
    from iris_ml.training.data import TARGET

    thresholds = DriftThresholds()
    signals = schedule.create_monitor.monitoring_signals
    problems = []
    features = signals.get("feature_drift")
    if features is None or list(features.features or []) != list(FEATURE_NAMES):
        problems.append(f"feature_drift must watch exactly {list(FEATURE_NAMES)}")
    elif (
        features.metric_thresholds.numerical.population_stability_index
        != thresholds.max_feature_psi
    ):
        problems.append(
            f"feature_drift PSI threshold must be {thresholds.max_feature_psi} (DriftThresholds)"
        )
    species = signals.get("species_drift")
    psi = getattr(
        getattr(getattr(species, "metric_thresholds", None), "categorical", None),
        "population_stability_index",
        None,
    )
    if psi != thresholds.max_prediction_psi:
        problems.append(
            f"species_drift PSI threshold must be {thresholds.max_prediction_psi} (DriftThresholds)"
        )
    for name, signal in signals.items():
        target = (signal.reference_data.data_column_names or {}).get("target_column")
        if target != TARGET:
            problems.append(f"{name}: the reference data's target column must be {TARGET!r}")
    return problems


def describe_signal(name: str, signal: Any) -> str:
    """One signal of monitor.yml in the YAML's own words (azure-ai-ml's objects print as reprs)."""
    kind = str(getattr(signal.type, "value", signal.type)).lower()
    watched = f" on {', '.join(signal.features)}" if getattr(signal, "features", None) else ""
    limits = []
    for group in ("numerical", "categorical"):
        metrics = getattr(signal.metric_thresholds, group, None)
        for metric, value in sorted(vars(metrics).items()) if metrics is not None else ():
            if value is not None and not metric.startswith("_"):
                limits.append(f"{group} {metric} over {value:g}")
    return f"{name}: {kind}{watched}; alert on {' or '.join(limits) or 'the default thresholds'}"

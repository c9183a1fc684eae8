"""Entry file for MLflow "models from code": MLflow stores this file as the model.

Loading the registered model executes it; ``set_model`` hands MLflow the
wrapper instance, whose estimator is then read from skops in ``load_context``.
"""

import mlflow.models

from iris_ml.model import IrisClassifier

mlflow.models.set_model(IrisClassifier())

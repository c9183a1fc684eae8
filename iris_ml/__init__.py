"""iris-ml: train, register and serve an Iris species classifier with MLflow.

The package keeps import-time side effects out: importing ``iris_ml`` or
``iris_ml.contract`` pulls in the standard library only. Heavier modules
(``model``, ``training``, ``registry``) import MLflow when they are imported.
"""

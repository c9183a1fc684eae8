"""Azure ML adapter for iris-ml: specs under ``deploy/azureml/`` and the ``python -m deploy`` CLI.

Azure-only code lives here; it reuses the feature contract, the registered model
and the registry's champion rule from ``iris_ml``.
"""

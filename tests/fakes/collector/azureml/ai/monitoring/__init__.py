"""A stand-in for azureml-ai-monitoring's Collector, put first on PYTHONPATH of azmlinfsrv.

The same constructor and ``collect`` as the real one (azureml-ai-monitoring 1.0.0:
``Collector(*, name, on_error=None)``, ``collect(data, correlation_context=None)`` taking a
pandas DataFrame and returning the context). It appends each collected DataFrame's rows,
with the collection's name, to the JSON-lines file named by ``$FAKE_COLLECTOR_FILE``.
"""

import json
import os


class Collector:
    def __init__(self, *, name, on_error=None):
        self.name = name
        self.on_error = on_error

    def collect(self, data, correlation_context=None):
        with open(os.environ["FAKE_COLLECTOR_FILE"], "a", encoding="utf-8") as out:
            for row in data.to_dict(orient="records"):
                out.write(json.dumps({"collection": self.name, **row}) + "\n")
        return correlation_context or {"correlation_id": "fake"}

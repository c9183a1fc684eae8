"""Reference only: the seed project's serving design (FastAPI + a pickled estimator).

Kept for the benchmark's "seed-design" baseline; not part of the product. It
unpickles its model and validates nothing, which is exactly why the product does
not look like this.
"""

import os
import pickle

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

SPECIES = ["setosa", "versicolor", "virginica"]

with open(os.environ["SEED_MODEL_PATH"], "rb") as f:
    model = pickle.load(f)  # noqa: S301 - the point of this baseline

app = FastAPI()


class Split(BaseModel):
    columns: list[str]
    data: list[list[float]]


class Request(BaseModel):
    dataframe_split: Split


@app.get("/ping")
def ping():
    return {}


@app.post("/invocations")
def invocations(request: Request):
    proba = model.predict_proba(np.asarray(request.dataframe_split.data))
    return {
        "predictions": [
            {"species": SPECIES[int(row.argmax())], "probabilities": dict(zip(SPECIES, row.tolist()))}
            for row in proba
        ]
    }

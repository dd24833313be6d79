"""A tiny sentiment model: bag of words + logistic regression, pure numpy.

It follows Switchyard's model interface:
  load(weights_dir) -> model         called once per process, with the directory of weights
  predict(model, inputs) -> outputs  called per request or batch; one output per input
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z']+")


def load(weights_dir):
    weights_dir = Path(weights_dir)
    vocab = json.loads((weights_dir / "vocab.json").read_text(encoding="utf-8"))
    params = np.load(weights_dir / "weights.npz")
    return {"index": {w: i for i, w in enumerate(vocab)}, "coef": params["coef"], "bias": float(params["bias"])}


def predict(model, inputs):
    index, coef = model["index"], model["coef"]
    features = np.zeros((len(inputs), len(coef)))
    for row, text in enumerate(inputs):
        if not isinstance(text, str):
            raise ValueError(f"input {row} must be a string, got {type(text).__name__}")
        for word in _WORD.findall(text.lower()):
            if word in index:
                features[row, index[word]] += 1.0
    scores = 1.0 / (1.0 + np.exp(-(features @ coef + model["bias"])))
    return [{"label": "positive" if s >= 0.5 else "negative", "score": round(float(s), 6)} for s in scores]

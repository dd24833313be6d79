"""Generate the sentiment model's weights deterministically: no downloads, no training data.

    python profiles/models/sentiment/make_weights.py [OUT_DIR]

Positive and negative words get fixed opposite weights; the output is byte-identical on
every run, so the committed weights can be checked against this script.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

POSITIVE = [
    "good",
    "great",
    "excellent",
    "love",
    "loved",
    "happy",
    "fast",
    "helpful",
    "amazing",
    "wonderful",
    "best",
    "nice",
    "reliable",
]
NEGATIVE = [
    "bad",
    "terrible",
    "awful",
    "hate",
    "hated",
    "sad",
    "slow",
    "broken",
    "worst",
    "poor",
    "useless",
    "rude",
    "late",
]


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    vocab = POSITIVE + NEGATIVE
    coef = np.array([1.5] * len(POSITIVE) + [-1.5] * len(NEGATIVE), dtype=np.float64)
    (out / "vocab.json").write_text(json.dumps(vocab, indent=1) + "\n", encoding="utf-8")
    # np.savez stamps the current time into the zip; write the members with a fixed date instead.
    with zipfile.ZipFile(out / "weights.npz", "w", zipfile.ZIP_STORED) as zf:
        for name, array in (("coef", coef), ("bias", np.array(0.0))):
            buf = io.BytesIO()
            np.save(buf, array)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 1, 1, 0, 0, 0)), buf.getvalue())


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "weights")

"""Train a small network on scikit-learn's iris data and write the package's example model.

    pip install -e ".[dev]"        # scikit-learn, used only here
    python tools/make_iris_example.py

It writes sensenet/examples/iris.json: a deepnet in the shape of a BigML
resource (field names and ids, ``input_fields``, ``objective_field``, and the
``network`` made by `sensenet.extract.keras_to_network`), so the command
line can match CSV headers to it. BigML did not train it; its description
says so.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from sensenet.extract import keras_to_network  # noqa: E402
from sensenet.models.wrappers import create_model  # noqa: E402

OUTPUT = REPO_ROOT / "sensenet" / "examples" / "iris.json"
SEED = 20261124
EPOCHS = 400


def field_id(column: int) -> str:
    return f"{column:06d}"


def train(features: np.ndarray, labels: np.ndarray, classes: int) -> keras.Model:
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input(shape=(features.shape[1],)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(features, labels, epochs=EPOCHS, batch_size=len(features), verbose=0)
    return model


def main() -> None:
    iris = load_iris()
    data = iris.data.astype(np.float64)
    mean, stdev = data.mean(axis=0), data.std(axis=0)
    standardised = ((data - mean) / stdev).astype(np.float32)
    classes = [str(name) for name in iris.target_names]
    model = train(standardised, iris.target, len(classes))

    preprocess = [
        {"type": "numeric", "index": i, "mean": float(mean[i]), "stdev": float(stdev[i])}
        for i in range(data.shape[1])
    ]
    network = keras_to_network(model, preprocess, {"type": "categorical", "values": classes})
    names = [*iris.feature_names, "species"]
    objective = field_id(len(names) - 1)
    fields = {
        field_id(i): {
            "column_number": i,
            "name": name,
            "optype": "categorical" if field_id(i) == objective else "numeric",
        }
        for i, name in enumerate(names)
    }
    resource = {
        "resource": "deepnet/sensenet-example-iris",
        "object": {
            "name": "iris (Sense/Net example)",
            "description": (
                "A 4-8-3 network trained by tools/make_iris_example.py on scikit-learn's copy of "
                "Fisher's iris data, written in BigML's deepnet format. Not trained by BigML."
            ),
            "input_fields": [field_id(i) for i in range(data.shape[1])],
            "objective_field": objective,
            "deepnet": {"fields": fields, "network": network},
        },
    }

    accuracy = float((create_model(resource)(data.tolist()).argmax(axis=1) == iris.target).mean())
    OUTPUT.write_text(json.dumps(resource, indent=1) + "\n")
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}: training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()

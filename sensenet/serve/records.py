"""The plain JSON endpoint: ``{"rows": [...]}``, ``{"records": [...]}`` or ``{"images": [...]}`` in,
the library's records out (``{"predictions": [...]}``).

A record is what ``model.predict`` gives (built by `sensenet.models.records`): classifiers
``{"prediction": label, "probability": p, <class>: p, ...}``, regressions ``{"prediction": value}``,
detectors ``{"objects": [{"box", "label", "score"}, ...]}`` per image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensenet.exceptions import InputDataError
from sensenet.models.records import classification_records, regression_records
from sensenet.serve.catalog import DETECTION, ServedModel
from sensenet.serve.protocol import InferRequest
from sensenet.serve.rows import images_alone, rows_from_lists, rows_from_records

BODY_FORMS: dict[str, Callable[[ServedModel, Any], list[Any]]] = {
    "rows": rows_from_lists,
    "records": rows_from_records,
    "images": images_alone,
}


def _one_image_rows(served: ServedModel, images: list[Any]) -> list[list[Any]]:
    index = served.fields[0].index
    return [[None] * index + [image] for image in images]


def parse_predict(body: Any, served: ServedModel) -> InferRequest:
    if not isinstance(body, dict) or len(body.keys() & BODY_FORMS.keys()) != 1:
        raise InputDataError(
            'the request body must be a JSON object with one of "rows", "records" or "images"'
        )
    (form,) = body.keys() & BODY_FORMS.keys()
    alone = len(served.fields) == 1 and served.fields[0].optype == "image"
    if form == "images" and not alone:
        raise InputDataError(f'model {served.name!r} does not read one image alone: send "rows" or "records"')
    data = BODY_FORMS[form](served, body[form])
    if served.kind == DETECTION:
        if form != "images":
            data = [_detector_image(row, served.fields[0].index, r) for r, row in enumerate(data)]
    elif form == "images":
        data = _one_image_rows(served, data)
    return InferRequest(data, len(data), None, None)


def _detector_image(row: list[Any], index: int, r: int) -> Any:
    if len(row) <= index:
        raise InputDataError(f"row {r}: has {len(row)} values, the image is in column {index}")
    return row[index]


def predict_response(served: ServedModel, outcome: Any) -> dict[str, Any]:
    if served.kind == DETECTION:
        return {"predictions": [{"objects": objects} for objects in outcome]}
    if served.classes is not None:
        return {"predictions": classification_records(outcome, served.classes)}
    return {"predictions": regression_records(outcome)}

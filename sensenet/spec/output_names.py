"""The one vocabulary of output names, read by every export (ONNX, TFLite, TF.js, .smbundle) and by
`sensenet serve`, so a model's outputs are called the same wherever it runs (docs/exports.md, "Output names").

- ``probabilities``: a classifier's class probabilities, float32 (rows, classes) in ``classes`` order;
- ``prediction``: a regression's value, float32 (rows, 1); where class names can travel (`serve`,
  the records of `model.predict`), also a classifier's predicted class;
- a detector's ``boxes`` (objects, 4: x1, y1, x2, y2 in the image's pixels), ``scores``,
  ``classes`` (each object's class: its position in ``classes`` in graph exports, its name from
  `serve`) and ``count`` (objects found), padded to a fixed number of objects.
"""

from __future__ import annotations

from sensenet.spec.model import BOUNDING_BOX, CLASSIFICATION, REGRESSION, Output

PROBABILITIES = "probabilities"
PREDICTION = "prediction"
BOXES = "boxes"
SCORES = "scores"
CLASSES = "classes"
COUNT = "count"
DETECTOR_OUTPUTS = (BOXES, SCORES, CLASSES, COUNT)

# output kind -> what a graph of that kind gives, in the documented order
GRAPH_OUTPUTS = {
    CLASSIFICATION: (PROBABILITIES,),
    REGRESSION: (PREDICTION,),
    BOUNDING_BOX: DETECTOR_OUTPUTS,
}


def graph_outputs(output: Output) -> tuple[str, ...]:
    """The names of the outputs a model's graph gives, in order."""
    return GRAPH_OUTPUTS[output.kind]

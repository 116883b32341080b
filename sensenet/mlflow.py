"""MLflow's ``sensenet`` flavor (the optional extra ``mlflow``): a BigML deepnet logged,
loaded, served and scored on Spark with MLflow's own tools.

A model directory holds the deepnet as BigML's JSON, gzipped (``deepnet.json.gz``, never a
pickle: loading it runs no code of the artifact's), and an ``MLmodel`` listing two flavors:
``sensenet`` (the Sense/Net version, the settings, the model kind) for `load_model`, which gives
the native `Deepnet` or `ObjectDetector`, and ``python_function``, whose loader is this module's
`_load_pyfunc`: ``mlflow.pyfunc.load_model``, ``mlflow models serve`` and
``mlflow.pyfunc.spark_udf`` all predict through it, a DataFrame in and the records of
``model.predict`` out as a DataFrame.

The signature is the model's fields (numeric as double, categorical as string, image as binary)
and its outputs. Every input column is required, as the model needs a column for each of its fields
(a value in it may be missing: null); MLflow itself refuses a request that lacks one, naming it,
before the model sees it, and drops columns the signature does not name. A value the model cannot
take raises MLflow's INVALID_PARAMETER_VALUE error with ours as its cause, which ``mlflow models
serve`` answers with a 400 and its message (any other exception, with a stack trace).
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sensenet._version import __version__
from sensenet.exceptions import InputDataError, ModelFormatError, ModelNotFoundError, UnsupportedError
from sensenet.export.bundle import is_bundle_path
from sensenet.extras import DISTRIBUTION, require_extra
from sensenet.files.writing import check_destination, publish, staging_directory
from sensenet.inputs.missing import is_missing
from sensenet.models.deepnet import Deepnet
from sensenet.models.detector import ObjectDetector
from sensenet.models.doors import create_model
from sensenet.models.records import is_frame
from sensenet.settings import Settings, ensure_settings
from sensenet.spec.source import read_model_file

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models import Model, ModelSignature
    from mlflow.models.model import ModelInfo

FLAVOR_NAME = "sensenet"
DEEPNET_FILE = "deepnet.json.gz"
MLMODEL_FILE = "MLmodel"
FEATURE = "MLflow's sensenet flavor (sensenet.mlflow)"

# optype -> the name of the MLflow DataType of its column
INPUT_TYPES = {"numeric": "double", "categorical": "string", "image": "binary"}
# spark_udf's result_type for a detector: MLflow reads a lone array output's frame as the array's
# elements, so the detector's one column goes through a struct (the udf's column ``.objects``)
DETECTOR_SPARK_TYPE = "objects array<struct<box:array<int>,label:string,score:double>>"
# extras a model needs beyond `mlflow`, by setting: the Keras engine needs TensorFlow
ENGINE_EXTRAS = {"keras": ("tensorflow",)}


# --- saving -------------------------------------------------------------------------------------


def save_model(
    model: Any,
    path: str | os.PathLike,
    *,
    settings: Settings | Mapping[str, Any] | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    mlflow_model: Model | None = None,
    overwrite: bool = False,
) -> None:
    """Write `model` as an MLflow model directory at `path`, atomically.

    Args:
        model: a BigML deepnet as its JSON: a path (.json or .json.gz) or a dict, any form
            `create_model` reads (the artifact is that JSON gzipped, never a pickle).
        path: the model directory to write.
        settings: stored, and applied each time the model is loaded.
        input_example: an example input MLflow stores beside the model.
        pip_requirements: replace the default requirements (this Sense/Net release with the extras
            the model needs, and the MLflow installed here).
        extra_pip_requirements: add to the default requirements.
        metadata: free-form metadata MLflow stores in ``MLmodel``.
        mlflow_model: MLflow's `Model`, given by `log_model`.
        overwrite: replace `path` if it is a Sense/Net MLflow model.

    Raises:
        MissingExtraError: MLflow (the ``mlflow`` extra) is not installed.
        OutputPathError: `path` exists (without `overwrite`, or not a Sense/Net MLflow model).
        UnsupportedError: `model` is a built model or an ``.smbundle``, not the deepnet's JSON.
        ModelFormatError: `model` is not a deepnet (as for `create_model`).
    """
    require_extra("mlflow", FEATURE)
    from mlflow.models import Model

    document = _deepnet_document(model)
    settings_object = ensure_settings(settings)
    built = _built_model(document, settings_object)
    target = check_destination(path, overwrite, _is_sensenet_model)
    with staging_directory(target) as staged:
        _write_model(
            staged,
            document,
            built,
            settings_object,
            mlflow_model if mlflow_model is not None else Model(),
            input_example,
            pip_requirements,
            extra_pip_requirements,
            metadata,
        )
        publish(staged, target, overwrite, _is_sensenet_model)


def log_model(
    model: Any,
    name: str,
    *,
    settings: Settings | Mapping[str, Any] | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelInfo:
    """`save_model` as MLflow's logged model `name`, in the active run if there is one.

    Args:
        model: as for `save_model`.
        name: the logged model's name.
        settings: as for `save_model`.
        input_example: as for `save_model`.
        pip_requirements: as for `save_model`.
        extra_pip_requirements: as for `save_model`.
        metadata: as for `save_model`.

    Returns:
        MLflow's `ModelInfo`; its ``model_uri`` loads the model back.

    Raises:
        MissingExtraError: MLflow (the ``mlflow`` extra) is not installed.
        UnsupportedError: as for `save_model`.
    """
    require_extra("mlflow", FEATURE)
    from mlflow.models import Model

    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        model=model,
        settings=settings,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=dict(metadata) if metadata is not None else None,
    )


def _deepnet_document(model: Any) -> Any:
    """The deepnet's JSON document, from a path or as given; a built model or a bundle holds none."""
    if isinstance(model, (Deepnet, ObjectDetector)):
        raise UnsupportedError(
            "a built model does not keep BigML's JSON, which an MLflow model stores: give the "
            "deepnet's JSON (its path or dict) and the settings to build it with"
        )
    if isinstance(model, (str, os.PathLike)):
        if is_bundle_path(model):
            raise UnsupportedError(
                f"{os.fspath(model)!r} is an .smbundle (a TensorFlow program), not BigML's JSON, which "
                "an MLflow model stores: give the deepnet's JSON file"
            )
        return read_model_file(model)
    return model


def _built_model(document: Any, settings: Settings, cache_default: bool = False) -> Deepnet | ObjectDetector:
    built = create_model(document, settings, cache_default=cache_default)
    if not isinstance(built, (Deepnet, ObjectDetector)):
        raise UnsupportedError(
            "an MLflow model predicts with a deepnet or a detector, not an image feature "
            "extractor: drop the setting extract_image_features"
        )
    return built


def _write_model(
    directory: Path,
    document: Any,
    model: Deepnet | ObjectDetector,
    settings: Settings,
    mlflow_model: Model,
    input_example: Any,
    pip_requirements: Sequence[str] | str | None,
    extra_pip_requirements: Sequence[str] | str | None,
    metadata: Mapping[str, Any] | None,
) -> None:
    """The model's files in `directory`, the staging directory that becomes the model's."""
    import yaml
    from mlflow import pyfunc
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (
        _CONDA_ENV_FILE_NAME,
        _CONSTRAINTS_FILE_NAME,
        _PYTHON_ENV_FILE_NAME,
        _REQUIREMENTS_FILE_NAME,
        _process_pip_requirements,
        _PythonEnv,
    )

    (directory / DEEPNET_FILE).write_bytes(gzip.compress(_json_bytes(document), compresslevel=1, mtime=0))
    _save_example(mlflow_model, input_example, str(directory))
    mlflow_model.signature = model_signature(model)
    if metadata is not None:
        mlflow_model.metadata = dict(metadata)
    pyfunc.add_to_model(
        mlflow_model,
        loader_module=__name__,
        data=DEEPNET_FILE,
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
    )
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        sensenet_version=_distribution()[1],
        data=DEEPNET_FILE,
        kind=model.kind,
        settings=settings.to_dict(),
    )
    mlflow_model.save(str(directory / MLMODEL_FILE))

    conda_env, requirements, constraints = _process_pip_requirements(
        default_pip_requirements(settings), pip_requirements, extra_pip_requirements
    )
    with open(directory / _CONDA_ENV_FILE_NAME, "w", encoding="utf-8") as stream:
        yaml.safe_dump(conda_env, stream=stream, default_flow_style=False)
    if constraints:
        (directory / _CONSTRAINTS_FILE_NAME).write_text("\n".join(constraints), encoding="utf-8")
    (directory / _REQUIREMENTS_FILE_NAME).write_text("\n".join(requirements), encoding="utf-8")
    _PythonEnv.current().to_yaml(str(directory / _PYTHON_ENV_FILE_NAME))


def _json_bytes(document: Any) -> bytes:
    try:
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as error:
        raise ModelFormatError(f"the deepnet cannot be written as JSON: {error}") from None


def _is_sensenet_model(path: Path) -> bool:
    """A directory `save_model` wrote (flat, with an MLmodel naming the sensenet flavor): one that
    ``overwrite`` may replace."""
    try:
        entries = list(path.iterdir())
        if not all(entry.is_file() and not entry.is_symlink() for entry in entries):
            return False
        return FLAVOR_NAME in _flavors(path)
    except (OSError, ModelFormatError):
        return False


def model_signature(model: Deepnet | ObjectDetector) -> ModelSignature:
    """Inputs: the model's fields by name (required columns, see the module docstring); outputs:
    the columns of ``model.predict``'s records."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, DataType, Object, Property, Schema

    found = Object(
        [
            Property("box", Array(DataType.integer)),
            Property("label", DataType.string, required=False),
            Property("score", DataType.double),
        ]
    )
    label = DataType.string if model.kind == "classification" else DataType.double
    types: dict[str, DataType | Array] = {"prediction": label, "objects": Array(found)}
    inputs = [ColSpec(DataType[INPUT_TYPES[f.optype]], f.name) for f in model.fields]
    outputs = [ColSpec(types.get(name, DataType.double), name) for name in output_columns(model)]
    return ModelSignature(inputs=Schema([*inputs]), outputs=Schema([*outputs]))


def default_pip_requirements(settings: Settings | Mapping[str, Any] | None = None) -> list[str]:
    """This Sense/Net release with the extras the model needs, and the MLflow distribution installed
    here (pinned, so MLflow does not add the full ``mlflow`` to a ``mlflow-skinny`` model)."""
    name, version = _distribution()
    extras = ("mlflow", *ENGINE_EXTRAS.get(ensure_settings(settings).engine or "", ()))
    return [f"{name}[{','.join(extras)}]=={version}", *_mlflow_requirement()]


@functools.cache
def _distribution() -> tuple[str, str]:
    """The installed distribution whose top-level package is ``sensenet``, and its version; running
    from a source tree, the project's name and the package's version. (Reading ``top_level.txt``
    costs milliseconds; `importlib.metadata.packages_distributions` reads every file list, a second.)"""
    package = __name__.partition(".")[0]
    for dist in importlib.metadata.distributions():
        if package in (dist.read_text("top_level.txt") or "").split():
            return dist.metadata["Name"], dist.version
    return DISTRIBUTION, __version__


def _mlflow_requirement() -> list[str]:
    for name in ("mlflow", "mlflow-skinny"):
        try:
            return [f"{name}=={importlib.metadata.version(name)}"]
        except importlib.metadata.PackageNotFoundError:
            continue
    return []


# --- loading ------------------------------------------------------------------------------------


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None) -> Deepnet | ObjectDetector:
    """The native model of a Sense/Net MLflow model.

    Args:
        model_uri: a local path or any MLflow URI (``runs:/<run id>/<name>``, ``models:/<model id>``).
        dst_path: where a remote model is downloaded (default: a temporary directory).

    Returns:
        The `Deepnet` or `ObjectDetector`, built with the settings saved with it.

    Raises:
        MissingExtraError: MLflow (the ``mlflow`` extra) is not installed.
        ModelNotFoundError: no model at `model_uri`.
        ModelFormatError: a directory that is not a Sense/Net MLflow model.
    """
    require_extra("mlflow", FEATURE)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    uri = os.fspath(model_uri)
    if "://" not in uri and ":/" not in uri and not os.path.isdir(uri):
        raise ModelNotFoundError(f"{uri!r} is not a directory: expected an MLflow model's directory or URI")
    try:
        local = _download_artifact_from_uri(artifact_uri=uri, output_path=dst_path)
    except MlflowException as error:
        raise ModelNotFoundError(f"cannot fetch the MLflow model {uri!r}: {error.message}") from None
    return _load(Path(local))


def _load_pyfunc(path: str) -> _PyfuncModel:
    """MLflow's pyfunc loader: `path` is the flavor's data, the deepnet file in the model's directory."""
    return _PyfuncModel(_load(Path(path).parent))


def _load(directory: Path) -> Deepnet | ObjectDetector:
    flavors = _flavors(directory)
    flavor = flavors.get(FLAVOR_NAME)
    if flavor is None:
        raise ModelFormatError(
            f"{directory} is an MLflow model of flavor(s) {sorted(flavors)}, not a Sense/Net "
            f"one (no {FLAVOR_NAME!r} flavor in its {MLMODEL_FILE})"
        )
    data = flavor.get("data")
    if not isinstance(data, str) or Path(data).name != data or data in ("", ".", ".."):
        raise ModelFormatError(
            f"{directory / MLMODEL_FILE}: the sensenet flavor's data {data!r} is not a file name"
        )
    settings = flavor.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise ModelFormatError(
            f"{directory / MLMODEL_FILE}: the sensenet flavor's settings are not a mapping"
        )
    # loading repeats (each `mlflow models serve` worker, each Spark task): from the compiled-model cache
    return _built_model(str(directory / data), ensure_settings(settings), cache_default=True)


def _flavors(directory: Path) -> dict[str, Any]:
    """The flavors the directory's MLmodel lists, or our error saying why it is not an MLflow model."""
    import yaml

    mlmodel = directory / MLMODEL_FILE
    if not directory.is_dir():
        raise ModelNotFoundError(f"{directory} is not a directory: expected an MLflow model's directory")
    if not mlmodel.is_file():
        raise ModelFormatError(f"{directory} is not an MLflow model: it has no {MLMODEL_FILE} file")
    try:
        content = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelFormatError(f"{mlmodel} cannot be read as MLflow's YAML: {error}") from None
    flavors = content.get("flavors") if isinstance(content, dict) else None
    if not isinstance(flavors, dict):
        raise ModelFormatError(f"{mlmodel} lists no flavors: it is not an MLflow model's {MLMODEL_FILE}")
    return {str(name): conf for name, conf in flavors.items() if isinstance(conf, dict)}


# --- the pyfunc model ---------------------------------------------------------------------------


class _PyfuncModel:
    """What ``mlflow.pyfunc`` predicts with: a DataFrame in, ``model.predict``'s records out as a
    DataFrame (classifier: prediction, probability, one column per class; regression: prediction;
    detector: objects)."""

    def __init__(self, model: Deepnet | ObjectDetector):
        self._model = model

    def get_raw_model(self) -> Deepnet | ObjectDetector:
        return self._model

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Bad input raises MLflow's own error for it (INVALID_PARAMETER_VALUE, ours as its cause):
        `mlflow models serve` answers that with a 400 and its message, any other with a stack trace."""
        from mlflow.exceptions import MlflowException

        try:
            return self._predict(data)
        except InputDataError as error:
            raise MlflowException.invalid_parameter_value(str(error)) from error

    def _predict(self, data: Any) -> pd.DataFrame:
        import pandas as pd

        model = self._model
        if not is_frame(data):
            raise InputDataError(f"expected a pandas DataFrame, got {type(data).__name__}")
        inputs = _field_columns(model, data)
        columns = output_columns(model)
        if inputs.empty:
            return pd.DataFrame(columns=columns)
        if isinstance(model, ObjectDetector):
            images = [None if is_missing(value) else value for value in inputs.iloc[:, 0]]
            records = model.predict(images)
        else:
            records = model.predict(inputs)
        return pd.DataFrame.from_records(records, columns=columns)


def output_columns(model: Deepnet | ObjectDetector) -> list[str]:
    """The columns of the pyfunc model's predictions: those of ``model.predict``'s records."""
    return OUTPUT_COLUMNS[model.kind](model)


OUTPUT_COLUMNS: dict[str, Callable[[Any], list[str]]] = {
    "classification": lambda model: ["prediction", "probability", *model.classes],
    "regression": lambda model: ["prediction"],
    "detection": lambda model: ["objects"],
}


def _field_columns(model: Deepnet | ObjectDetector, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's column for each field (by field name, else id), named by the fields, in their order."""
    present = {str(column): column for column in frame.columns}
    found = [present.get(f.name, present.get(f.id) if f.id is not None else None) for f in model.fields]
    missing = [f.name for f, column in zip(model.fields, found) if column is None]
    if missing:
        raise InputDataError(
            f"the data has no column for the model's field(s) {missing} (matched by field name or "
            f"id); its columns are {list(present)[:20]}"
        )
    inputs = frame.loc[:, found]
    inputs.columns = [f.name for f in model.fields]
    return inputs

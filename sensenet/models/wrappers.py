"""The seed library's public path to the doors and wrappers (the BigML bindings import
``sensenet.models.wrappers.create_model``); nothing inside the package imports it."""

from sensenet.models.deepnet import Deepnet
from sensenet.models.detector import ObjectDetector
from sensenet.models.doors import convert, create_image_feature_extractor, create_model, tflite_predict
from sensenet.models.extractor import ImageFeatureExtractor
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.models.model_wrapper import ModelWrapper as SaveableModel
from sensenet.models.seed_api import (
    bigml_resource,
    is_deepnet,
    model_from_bundle,
    model_from_dictionary,
    to_tflite,
)

__all__ = [
    "Deepnet",
    "ImageFeatureExtractor",
    "ModelWrapper",
    "ObjectDetector",
    "SaveableModel",
    "bigml_resource",
    "convert",
    "create_image_feature_extractor",
    "create_model",
    "is_deepnet",
    "model_from_bundle",
    "model_from_dictionary",
    "tflite_predict",
    "to_tflite",
]

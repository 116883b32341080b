"""The errors Sense/Net raises for anything a user can get wrong.

Each class also derives from the builtin a caller of the seed library would
have caught (ValueError, TypeError, FileNotFoundError), so existing
``except ValueError`` blocks keep working.
"""


class SensenetError(Exception):
    """Base class of every error raised on purpose by Sense/Net."""


class ModelFormatError(SensenetError, ValueError):
    """The model JSON is malformed: a missing key, a bad value, a wrong shape."""


class ModelNotFoundError(SensenetError, FileNotFoundError):
    """A model path that does not exist."""


class SettingsError(SensenetError, ValueError):
    """An unknown setting, or a setting with a value it cannot take."""


class InputDataError(SensenetError, ValueError):
    """A row, array or image given for prediction that does not fit the model."""


class FieldValueError(InputDataError):
    """A value its field cannot take. Says where as the input form names it ("row 0, field 'x'")
    and keeps the parts apart, so the command line can name the file's line and column instead."""

    def __init__(self, row: int, index: int, label: str, problem: str):
        super().__init__(f"row {row}, {label}: {problem}")
        self.row = row  # position in the rows given
        self.index = index  # the field's row index
        self.label = label  # how the input form names the field's column
        self.problem = problem  # what is wrong, without where

    def __reduce__(self) -> tuple[type, tuple[int, int, str, str]]:
        """Pickles with its parts (Spark ships errors between processes)."""
        return type(self), (self.row, self.index, self.label, self.problem)


class UnsupportedError(SensenetError, NotImplementedError):
    """A valid request this version cannot carry out (it says what to do instead)."""


class ImageError(InputDataError):
    """An image that cannot be turned into pixels: a missing file, bytes that are not an image, a
    truncated or corrupt image, a pixel array of the wrong shape, type or range."""


class ImageFieldError(FieldValueError, ImageError):
    """An image its field cannot take (a missing file, bytes that are no image...), placed as any
    other bad value is (`FieldValueError`): "row 0, column 2 'photo': image file not found"."""


class DownloadError(SensenetError, OSError):
    """A file Sense/Net fetches on demand (pretrained weights) could not be downloaded or cached."""


class OutputPathError(SensenetError, OSError):
    """An output path that exists already (and overwriting was not asked for) or cannot be written."""


class MissingExtraError(SensenetError, ImportError):
    """A feature needs an optional extra that is not installed (the message names the pip command)."""


class ExtraValuesWarning(UserWarning):
    """Rows hold more values than the model reads; the values past its fields' columns are ignored.

    Predicted, not refused: BigML's own rows carry the objective and fields the model does not
    use after its inputs, and the seed library predicted them. Shown once per model width (the
    warnings module's default), and the command line says it with the file's line instead.
    """

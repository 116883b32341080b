"""Every example of the documentation runs, and prints what its page shows.

The pages are README.md and every Markdown file under docs/, whoever wrote them: a page that lands
is checked from then on. tools/docs_examples.py runs each page's bash and Python examples in a
fresh directory, as docs/contributing.md ("Examples") tells a writer, and compares each shown
output with what the example printed, numbers to the digits shown. Needs the fixtures (the
examples' photos and models), like the conformance tests.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, fixture_path
from tools import docs_examples
from tools.docs_examples import Example, check_page, doc_pages, examples, output_matches

README_MAX_LINES = 200
MAX_NOT_RUN = 8  # installs, the whole suite, the site's own build: keep it that small


@pytest.fixture
def page_fixtures() -> None:
    """The fixtures every page's working directory links (`example_files`): skipped (failed in
    CI) without them, as every test needing fixtures is."""
    for name in docs_examples.FIXTURES_USED:
        fixture_path(name)


def _page_id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.mark.parametrize("page", doc_pages(), ids=_page_id)
def test_the_examples_of_a_page_print_what_it_shows(page, page_fixtures):
    found = check_page(page)
    assert not found, "\n\n".join(found)


def test_every_page_has_run_examples_and_few_are_not_run():
    every = [example for page in doc_pages() for example in examples(page)]
    not_run = [example for example in every if example.not_run]
    assert len(every) - len(not_run) >= 40, len(every)
    assert len(not_run) <= MAX_NOT_RUN, [example.where for example in not_run]
    shown = [example for example in every if example.shown is not None and not example.not_run]
    assert len(shown) >= 30, len(shown)


def test_the_readme_is_a_front_page():
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_a_wrong_number_fails_and_the_right_one_to_its_digits_passes(tmp_path, page_fixtures):
    template = "```bash\necho 'score 0.7963325381278992'\n```\n\n```text\nscore {shown}\n```\n"
    for shown, right in [("0.7963325", True), ("0.79633", True), ("0.7963372", False), ("0.8", True)]:
        problems = check_page(_page(tmp_path, template.format(shown=shown)))
        assert (not problems) is right, (shown, problems)


def test_output_rules():
    assert output_matches("a 1.5\n...\nz\n", "a 1.50001\nb\nc\nz\n")
    assert output_matches("a\n...\n", "a\n")
    assert not output_matches("a\n...\nz\n", "a\nb\n")
    assert not output_matches("prediction setosa\n", "prediction virginica\n")
    assert not output_matches("1 2\n", "1 2 3\n")
    assert not output_matches("12\n", "12\n13\n")
    assert output_matches("x   \n\n", "x\n")


def test_python_blocks_share_a_session_and_a_failing_example_is_named(tmp_path, page_fixtures):
    text = (
        "```python\nvalue = 6 * 7\n```\n\n```python\nprint(value)\n```\n\n```text\n42\n```\n\n"
        "```bash\nfalse\n```\n\n```bash\necho never\n```\n\n```text\nnever\n```\n"
    )
    problems = check_page(_page(tmp_path, text))
    assert len(problems) == 1 and "page.md:13: the bash example failed: exit status 1" in problems[0]


def test_a_block_marked_not_run_is_not_run(tmp_path, page_fixtures):
    page = _page(tmp_path, "<!-- not run: an install -->\n```bash\nexit 7\n```\n")
    (example,) = examples(page)
    assert example == Example(example.page, 2, "bash", "exit 7\n", None, "an install")
    assert check_page(page) == []


def test_what_a_page_leaves_running_is_stopped_and_its_ports_are_free_ones(tmp_path):
    code = "sleep 300 & echo $! > pid\necho localhost:8080 > port\necho served on localhost:8080\n"
    page = _page(tmp_path, f"```bash\n{code}```\n\n```text\nserved on localhost:8080\n```\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    assert docs_examples.problems(docs_examples.run_page(examples(page), workdir)) == []
    assert not _alive(int((workdir / "pid").read_text()))
    host, port = (workdir / "port").read_text().strip().split(":")
    assert host == "localhost" and int(port) != 8080 and int(port) in range(1024, 65536)


def test_a_process_that_ignores_sigterm_is_killed_when_the_page_ends(tmp_path):
    page = _page(tmp_path, "```bash\n(trap '' TERM; sleep 300) &\necho $! > pid\n```\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = time.monotonic()
    assert docs_examples.problems(docs_examples.run_page(examples(page), workdir)) == []
    assert time.monotonic() - started < 30
    assert not _alive(int((workdir / "pid").read_text()))


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status.lower()


# ---- the API reference: what mkdocstrings renders from the docstrings


def _public_api() -> dict[str, Any]:
    """The names the API reference (docs/reference/) documents, each with its object."""
    from sensenet import exceptions, mlflow, spark
    from sensenet.models import doors, seed_api
    from sensenet.models.deepnet import Deepnet
    from sensenet.models.detector import ObjectDetector
    from sensenet.models.extractor import ImageFeatureExtractor
    from sensenet.models.fields import FieldInfo
    from sensenet.pretrained import get_network, get_weights
    from sensenet.settings import Settings

    api: dict[str, Any] = {
        f"doors.{name}": getattr(doors, name)
        for name in ["create_model", "convert", "create_image_feature_extractor", "tflite_predict"]
    }
    for cls in (Deepnet, ObjectDetector, ImageFeatureExtractor, FieldInfo, Settings):
        api[cls.__name__] = cls
        for name, member in vars(cls).items():
            if (
                (not name.startswith("_") or name == "__call__")
                and callable(member)
                or isinstance(member, property)
            ):
                api[f"{cls.__name__}.{name}"] = member
    for name in ["spec", "settings", "preprocessors", "fields", "names_fields", "classes", "kind"]:
        api[f"Deepnet.{name}"] = getattr(Deepnet, name)
    api.update(
        {
            f"exceptions.{name}": getattr(exceptions, name)
            for name in exceptions.__dict__
            if name.endswith("Error")
        }
    )
    api["spark.predict"] = spark.predict
    api.update(
        {f"mlflow.{name}": getattr(mlflow, name) for name in ["save_model", "log_model", "load_model"]}
    )
    api.update(
        {
            f"seed_api.{name}": getattr(seed_api, name)
            for name in [
                "is_deepnet",
                "bigml_resource",
                "model_from_dictionary",
                "model_from_bundle",
                "to_tflite",
            ]
        }
    )
    api.update(get_network=get_network, get_weights=get_weights)
    return api


# Functions whose docstrings say, in sections, what they take, return and raise (Google style, as
# mkdocstrings renders them): the doors and every method a user calls to predict.
SECTIONED = [
    "doors.create_model",
    "doors.convert",
    "doors.create_image_feature_extractor",
    "doors.tflite_predict",
    "Deepnet.__call__",
    "Deepnet.predict",
    "Deepnet.encode",
    "Deepnet.unknown_categories",
    "ObjectDetector.__call__",
    "ObjectDetector.predict",
    "ImageFeatureExtractor.__call__",
    "ImageFeatureExtractor.encode",
    "Settings",
    "spark.predict",
    "mlflow.save_model",
    "mlflow.log_model",
    "mlflow.load_model",
    "get_network",
    "get_weights",
    "seed_api.model_from_dictionary",
    "seed_api.model_from_bundle",
    "seed_api.to_tflite",
]


def test_every_public_name_of_the_reference_has_a_docstring():
    missing = [name for name, member in _public_api().items() if not inspect.getdoc(member)]
    assert not missing, missing


@pytest.mark.parametrize("name", SECTIONED)
def test_a_door_says_what_it_takes_returns_and_raises(name):
    member = _public_api()[name]
    doc = inspect.getdoc(member) or ""
    function = member.__init__ if inspect.isclass(member) else member
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    if parameters:
        assert "\nArgs:\n" in doc, f"{name}: no Args section"
        for parameter in parameters:
            word = f"**{parameter.name}" if parameter.kind is parameter.VAR_KEYWORD else parameter.name
            assert f"\n    {word}:" in doc, f"{name}: Args does not say what {parameter.name} is"
    returns = signature.return_annotation
    if not inspect.isclass(member) and returns not in (None, "None", inspect.Signature.empty):
        assert "\nReturns:\n" in doc, f"{name}: no Returns section"
    assert "\nRaises:\n" in doc, f"{name}: no Raises section"

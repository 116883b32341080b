"""The command line's help texts, usage lines and exit statuses, run as a user runs them."""

from __future__ import annotations

import argparse

from sensenet.cli import COMMANDS, build_parser
from sensenet.examples import example_path
from tests.test_cli import assert_one_line_error, sensenet

IRIS_ROW = "5.1,3.5,1.4,0.2"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _quiet_help(text: str) -> str:
    return " ".join(text.split("-q, --quiet", 1)[1].split("\n", 1)[0].split())


def test_an_unknown_example_is_a_usage_error_naming_the_examples(tmp_path):
    for words in (
        ("predict", "--example", "iri", IRIS_ROW),
        ("info", "--example", "iri"),
        ("convert", "--example", "iri", "--to", "onnx", "-o", str(tmp_path / "x.onnx")),
    ):
        result = sensenet(*words)
        assert_one_line_error(
            result, 2, "invalid choice: 'iri'", "'iris'", f"(see sensenet {words[0]} --help)"
        )
    assert list(tmp_path.iterdir()) == []


def test_every_subcommand_help_describes_it():
    parsers = _subparsers()
    assert set(parsers) == set(COMMANDS)
    for name, parser in parsers.items():
        assert parser.description and len(parser.description.split()) > 15, name
    info = sensenet("info", "--help")
    assert info.returncode == 0 and "Describe a BigML deepnet without predicting" in info.stdout


def test_quiet_says_what_it_quiets():
    serve = sensenet("serve", "--help")
    assert serve.returncode == 0
    assert _quiet_help(serve.stdout) == "log warnings and errors only, no access log"
    assert _quiet_help(_subparsers()["cache"].format_help()) == "clear: print nothing"
    for name in set(COMMANDS) - {"serve", "cache"}:
        assert _quiet_help(_subparsers()[name].format_help()) == "no progress bar", name


def test_the_usage_names_stdin_for_the_model_and_stdin_works(tmp_path):
    iris = example_path("iris").read_text()
    for name in ("predict", "convert"):
        assert f"sensenet {name} [options] (MODEL | - | --example NAME)" in sensenet(name, "--help").stdout
    predicted = sensenet("predict", "-", IRIS_ROW, stdin=iris)
    assert predicted.returncode == 0 and predicted.stdout.splitlines()[1].startswith("setosa,"), (
        predicted.stderr
    )
    converted = sensenet("convert", "-", "--to", "onnx", "-o", str(tmp_path / "iris.onnx"), stdin=iris)
    assert converted.returncode == 0 and (tmp_path / "iris.onnx").stat().st_size > 0, converted.stderr


def test_convert_to_h5_prints_no_library_deprecation_notice(tmp_path):
    out = tmp_path / "iris.h5"
    result = sensenet("convert", "--example", "iris", "--to", "h5", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"sensenet convert: wrote {out} (h5, {out.stat().st_size:,} bytes)"]

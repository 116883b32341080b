"""Parts of the command line that need no subprocess: the progress bar, field names, row readers."""

from __future__ import annotations

import io
import json

import pytest

from sensenet import InputDataError, ModelNotFoundError
from sensenet.cli.progress import Progress
from sensenet.cli.rows import RowLayout, argument_rows, csv_rows, jsonl_rows
from sensenet.examples import example_path
from sensenet.spec.source import FieldNames, field_names, read_model_file


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_count_rate_and_eta_on_a_terminal():
    stream = Terminal()
    with Progress(1000, "rows", stream=stream, delay=0.0) as progress:
        progress.update(250)
        progress.update(750)
    text = stream.getvalue()
    assert text.startswith("\r[") and text.endswith("\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert "1000/1000 rows" in last and "/s" in last and "ETA 00:00" in last and "#" * 24 in last


@pytest.mark.parametrize("stream,enabled", [(io.StringIO(), True), (Terminal(), False)])
def test_progress_bar_is_silent_off_a_terminal_or_when_quiet(stream, enabled):
    with Progress(10, "rows", enabled=enabled, stream=stream, delay=0.0) as progress:
        progress.update(10)
    assert stream.getvalue() == ""


def test_progress_bar_waits_before_drawing_short_jobs():
    stream = Terminal()
    with Progress(10, "rows", stream=stream, delay=60.0) as progress:
        progress.update(10)
    assert stream.getvalue() == ""


def test_field_names_follow_input_fields_and_skip_the_objective():
    fields = {
        "000000": {"name": "a"},
        "000001": {"name": "target"},
        "000002": {"name": "b"},
    }
    resource = {
        "object": {
            "input_fields": ["000002", "000001", "000000"],
            "objective_field": "000001",
            "deepnet": {"fields": fields, "network": {}},
        }
    }
    assert field_names(resource) == FieldNames(("b", "a"), ("000002", "000000"), "target")
    assert field_names({"layers": [], "preprocess": []}) is None
    assert field_names(read_model_file(example_path("iris"))).objective == "species"


def test_unknown_example_names_the_available_ones():
    with pytest.raises(ModelNotFoundError, match="iris"):
        example_path("tulips")


LAYOUT = RowLayout(("x", "y"))


def test_rows_from_arguments_quote_and_mark_empty_as_missing():
    assert argument_rows(['1,"a,b",', "2,,c"]).rows == [["1", "a,b", None], ["2", None, "c"]]


def test_csv_header_columns_are_matched_by_name():
    source = csv_rows("target, y ,x,extra\nt,2,,9\n", "f.csv", LAYOUT)
    assert source.rows == [[None, "2"]]
    with pytest.raises(InputDataError, match=r"f.csv, line 3: 2 values, but the header has 4"):
        csv_rows("target,y,x,extra\nt,2,1,9\n1,2\n", "f.csv", LAYOUT)
    assert csv_rows("x,y\n1,2\n", "f.csv", RowLayout(None)).rows == [["1", "2"]]
    assert csv_rows("1,2\n", "f.csv", RowLayout(None, header=False)).rows == [["1", "2"]]


def test_jsonl_objects_need_names_and_ignore_other_keys_as_csv_and_the_api_do():
    source = jsonl_rows('{"y": 2, "target": 0, "id": "a"}\n\n[1, null]\n', "f", LAYOUT)
    assert source.rows == [[None, 2], [1, None]] and source.numbers == [1, 3]
    with pytest.raises(
        InputDataError, match=r"f: no key of its JSON objects names an input field.*\['x', 'y'\]"
    ):
        jsonl_rows('{"z": 1}\n{"id": 2}\n', "f", LAYOUT)
    with pytest.raises(InputDataError, match="names its fields"):
        jsonl_rows('{"x": 1}\n', "f", RowLayout(None))
    with pytest.raises(InputDataError, match="line 2: not valid JSON"):
        jsonl_rows("[1, 2]\n[1,\n", "f", LAYOUT)


def test_options_between_arguments_and_rows_starting_with_a_negative_number(capsys):
    from sensenet.cli import main
    from sensenet.models.wrappers import create_model

    rows = ["5.1,3.5,1.4,0.2", "-1,2,3,4", "-.5,2,3,4", "6,3,5,2"]
    status = main(["predict", "--example", "iris", rows[0], rows[1], "--format", "jsonl", "-q", *rows[2:]])
    assert status == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = create_model(str(example_path("iris")))([[float(v) for v in row.split(",")] for row in rows])
    got = [list(record["probabilities"].values()) for record in records]
    assert len(got) == 4 and max(abs(a - b) for g, e in zip(got, expected) for a, b in zip(g, e)) <= 1e-6

    with pytest.raises(SystemExit) as usage:
        main(["predict", "--example", "iris", rows[0], "--bogus"])
    assert usage.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_image_arguments_expand_directories_and_globs_sorted(tmp_path):
    from sensenet.cli.images import expand_images

    for name in ("b.png", "a.JPG", "notes.txt", "sub/c.png", "sub/deeper/d.tiff"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    top = [str(tmp_path / "a.JPG"), str(tmp_path / "b.png")]
    assert expand_images([str(tmp_path)]) == top
    nested = [str(tmp_path / "sub" / "c.png"), str(tmp_path / "sub" / "deeper" / "d.tiff")]
    assert expand_images([str(tmp_path)], recursive=True) == [*top, *nested]
    assert expand_images([str(tmp_path / "sub" / "*.png"), str(tmp_path / "b.png")]) == [nested[0], top[1]]
    assert expand_images([str(tmp_path / "**" / "*.tiff")], recursive=True) == [nested[1]]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="holds no image files"):
        expand_images([str(tmp_path / "empty")])


def test_drawn_copies_never_replace_files_or_originals(tmp_path):
    from sensenet.cli.drawing import drawing_paths
    from sensenet.exceptions import OutputPathError

    source, drawn = tmp_path / "photos", tmp_path / "drawn"
    source.mkdir()
    drawn.mkdir()
    images = [str(source / "cat.jpg")]
    assert drawing_paths(images, str(drawn), "", force=False) == [str(drawn / "cat.jpg")]
    assert drawing_paths(images, str(source), ".boxes", force=False) == [str(source / "cat.boxes.jpg")]
    with pytest.raises(OutputPathError, match="replace the original"):
        drawing_paths(images, str(source), "", force=True)
    (drawn / "cat.jpg").write_bytes(b"kept")
    with pytest.raises(OutputPathError, match="already exists"):
        drawing_paths(images, str(drawn), "", force=False)
    with pytest.raises(InputDataError, match="both be drawn"):
        drawing_paths([*images, str(tmp_path / "cat.jpg")], str(drawn), "", force=True)

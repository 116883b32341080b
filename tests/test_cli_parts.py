"""Parts of the command line that need no subprocess: the progress bar, field names, row readers."""

from __future__ import annotations

import io

import pytest

from sensenet import InputDataError, ModelNotFoundError
from sensenet.cli.model_file import field_names
from sensenet.cli.progress import Progress
from sensenet.cli.rows import RowLayout, argument_rows, csv_rows, jsonl_rows
from sensenet.examples import example_path


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
    assert field_names(resource) == (("b", "a"), "target")
    assert field_names({"layers": [], "preprocess": []}) == (None, None)
    from sensenet.spec.source import read_json_file

    assert field_names(read_json_file(example_path("iris")))[1] == "species"


def test_unknown_example_names_the_available_ones():
    with pytest.raises(ModelNotFoundError, match="iris"):
        example_path("tulips")


LAYOUT = RowLayout(("x", "y"), "target")


def test_rows_from_arguments_quote_and_mark_empty_as_missing():
    assert argument_rows(['1,"a,b",', "2,,c"]).rows == [["1", "a,b", None], ["2", None, "c"]]


def test_csv_header_columns_are_matched_by_name():
    source = csv_rows("target, y ,x,extra\nt,2,,9\n", "f.csv", LAYOUT)
    assert source.rows == [[None, "2"]]
    with pytest.raises(InputDataError, match=r"f.csv, line 3: 2 values, but the header has 4"):
        csv_rows("target,y,x,extra\nt,2,1,9\n1,2\n", "f.csv", LAYOUT)
    assert csv_rows("x,y\n1,2\n", "f.csv", RowLayout(None)).rows == [["1", "2"]]
    assert csv_rows("1,2\n", "f.csv", RowLayout(None, header=False)).rows == [["1", "2"]]


def test_jsonl_objects_need_names_and_known_keys():
    assert jsonl_rows('{"y": 2, "target": 0}\n\n[1, null]\n', "f", LAYOUT).rows == [[None, 2], [1, None]]
    with pytest.raises(InputDataError, match=r"f, line 1: unknown field\(s\) \['z'\]"):
        jsonl_rows('{"z": 1}\n', "f", LAYOUT)
    with pytest.raises(InputDataError, match="names its fields"):
        jsonl_rows('{"x": 1}\n', "f", RowLayout(None))
    with pytest.raises(InputDataError, match="line 2: not valid JSON"):
        jsonl_rows("[1, 2]\n[1,\n", "f", LAYOUT)

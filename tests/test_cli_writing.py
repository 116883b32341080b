"""`sensenet.files.writing`, the one rule every writer (CLI outputs, drawn copies, exports, the
weights cache) follows: temporary file beside the target, a move that replaces nothing unasked,
links replaced and never written through, no directory tree deleted, nothing left on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sensenet import cli
from sensenet.exceptions import OutputPathError, SettingsError
from sensenet.files.writing import check_destination, new_file, publish, staging_directory
from sensenet.models.wrappers import convert
from tests.conftest import REPO_ROOT


def test_a_new_file_appears_whole_and_only_on_success(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        with new_file(target) as stream:
            stream.write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with new_file(target) as stream:
        stream.write("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_a_destination_created_meanwhile_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(OutputPathError, match="created by someone else meanwhile"):
        with new_file(target) as stream:
            stream.write("mine")
            target.write_text("theirs")  # another process, after the up-front check
    assert target.read_text() == "theirs" and list(tmp_path.iterdir()) == [target]

    with staging_directory(tmp_path / "web") as staging:
        (staging / "web").mkdir()
        (staging / "web" / "model.json").write_text("mine")
        (tmp_path / "web").mkdir()
        (tmp_path / "web" / "theirs.txt").write_text("theirs")
        with pytest.raises(OutputPathError, match="meanwhile"):
            publish(staging / "web", tmp_path / "web")
    assert [p.name for p in (tmp_path / "web").iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "web"]


def test_links_are_replaced_with_overwrite_never_written_through(tmp_path):
    original = tmp_path / "original.jpg"
    original.write_bytes(b"precious")
    link = tmp_path / "link.jpg"
    link.symlink_to(original)
    with pytest.raises(OutputPathError, match="already exists"):
        check_destination(link)
    with new_file(link, overwrite=True, binary=True) as stream:
        stream.write(b"new")
    assert original.read_bytes() == b"precious" and not link.is_symlink() and link.read_bytes() == b"new"


def test_overwrite_must_be_a_bool_and_directories_are_not_files(tmp_path):
    with pytest.raises(SettingsError, match="overwrite must be True or False, got 'no'"):
        check_destination(tmp_path / "x", overwrite="no")
    with pytest.raises(SettingsError, match="got 'no'"):
        convert(
            str(REPO_ROOT / "sensenet" / "examples" / "iris.json"), None, tmp_path / "x.onnx", "onnx", "no"
        )
    with pytest.raises(OutputPathError, match="directory this format did not write"):
        check_destination(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_conversion_leaves_its_staging_which_the_next_run_removes(tmp_path):
    """SIGKILL leaves a staging directory (nothing can run); SIGTERM runs the clean-up."""
    target = tmp_path / "iris.tflite"
    code = (
        "from sensenet.cli import main; import sys; "
        f"sys.exit(main(['convert', '--example', 'iris', '--to', 'tflite', '-o', {str(target)!r}]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for sent in (signal.SIGTERM, signal.SIGKILL):
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not any(p.name.endswith(".staging") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and process.poll() is None, "no staging directory appeared"
            time.sleep(0.05)
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=60)
        left = sorted(p.name for p in tmp_path.iterdir())
        if sent == signal.SIGTERM:
            # Python ignores the exit when it lands in a finaliser: the conversion then ends, whole.
            finished = left == ["iris.tflite"] and target.read_bytes()[4:8] == b"TFL3"
            assert process.returncode == 143 and (left == [] or finished), (left, stderr.decode())
            target.unlink(missing_ok=True)
        else:
            assert len(left) == 1 and left[0].startswith(".iris.tflite.") and left[0].endswith(".staging")
    with staging_directory(target):
        pass
    assert list(tmp_path.iterdir()) == []


def test_sigterm_ends_the_command_as_terminated_even_if_native_code_turned_it_into_an_error(monkeypatch):
    """TensorFlow's converter may wrap the SystemExit our handler raises; the status stays 143."""

    class WrapsSignals:
        HELP = "raises its own error when interrupted, as native code does"

        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(args):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except BaseException as interruption:
                raise RuntimeError("operation cancelled") from interruption
            return 0

    monkeypatch.setitem(cli.COMMANDS, "wraps", WrapsSignals)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["wraps"]) == 143
    assert signal.getsignal(signal.SIGTERM) is before

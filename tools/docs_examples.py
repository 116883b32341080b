"""The examples of the documentation (docs/*.md and README.md), run as a reader would run them.

An example is a fenced ```bash or ```python block; when a fenced ```text block follows it (nothing
but blank lines between), that block is exactly what the example prints: stdout and stderr as a
terminal shows them, numbers to the digits shown (docs/contributing.md, "Examples").

Each page runs in a fresh working directory holding the files of `example_files`, its examples in
the order of the page, in one process: Python blocks share one namespace (as one interpreter
session), bash blocks run in bash from that directory, and whatever a bash block leaves running
(`sensenet serve ... &`) is stopped when the page ends. A block preceded by the line
`<!-- not run: REASON -->` is not run (installs, commands for a cluster).

`python tools/docs_examples.py PAGE.md ...` runs pages and prints what differs, for whoever writes
them; tests/test_docs.py runs every page the same way.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
RUN_LANGUAGES = ("bash", "python")
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>[^>]*\S)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<language>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
# A port a page names for a server (after a --...port option, localhost:, 127.0.0.1: or port=) is
# given a free port of this machine for the run, everywhere in the page's code and, mapped back, in
# what it prints, so pages run beside each other and beside other servers.
PORT_MENTION = re.compile(r"(?:--[\w-]*port[ =]|localhost:|127\.0\.0\.1:|port=)(\d{4,5})\b")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ELLIPSIS = "..."
PAGE_TIMEOUT_S = 900
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Example:
    """One runnable block of a page, with the output shown after it (None: none shown)."""

    page: str
    line: int
    language: str
    code: str
    shown: str | None
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def examples(path: Path) -> list[Example]:
    """The bash and Python blocks of a Markdown page, in order, each with the text block after it."""
    text, page = path.read_text(), _shown(path)
    blocks = list(FENCE.finditer(text))
    found = []
    for k, block in enumerate(blocks):
        if block.group("language") not in RUN_LANGUAGES:
            continue
        shown = None
        after = blocks[k + 1] if k + 1 < len(blocks) else None
        if after and after.group("language") == "text" and not text[block.end() : after.start()].strip():
            shown = after.group("body")
        before = text[: block.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        line = text.count("\n", 0, block.start()) + 1
        code = block.group("body")
        found.append(Example(page, line, block.group("language"), code, shown, marker and marker["reason"]))
    return found


def _shown(path: Path) -> str:
    """A page's path as messages name it: from the repository's root when it is inside."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def doc_pages() -> list[Path]:
    """Every page with examples: README.md and docs/**/*.md (the pages present, whoever wrote them)."""
    return [REPO_ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


# ---- the files every page finds in its working directory


# name in a page's directory -> the fixture it links; and the fixture images.json comes from
FIXTURE_LINKS = {
    "eyes.zip": "detection/cats_eye_tinyyolov4.zip",
    "cat.jpg": "detection/pexels-pixabay-33358.jpg",
    "dog.jpg": "images/dog.jpg",
    "bus.jpg": "images/bus.jpg",
    "digits": "images/digits",
}
IMAGES_MODEL = "image_regression.json.gz"
FIXTURES_USED = (*FIXTURE_LINKS.values(), IMAGES_MODEL)


def example_files(directory: Path) -> list[str]:
    """Lay out, in `directory`, the files a page's examples may use; returns their names.

    iris.json (the example model in the package), eyes.zip (BigML's TinyYOLOv4 eye detector, as
    BigML's download comes), cat.jpg (a photo for it), dog.jpg and bus.jpg (photos), digits/ (small
    PNG digits), images.json (a deepnet reading two images, a number and a category) and examples/
    (the repository's). iris.json and examples/ come from the repository, the rest from the
    fixtures (SENSENET_FIXTURES).
    """
    from sensenet.examples import example_path

    links = {
        "iris.json": Path(example_path("iris")),
        **{name: FIXTURES / fixture for name, fixture in FIXTURE_LINKS.items()},
        "examples": REPO_ROOT / "examples",
    }
    missing = [str(source) for source in links.values() if not source.exists()]
    if missing:
        raise FileNotFoundError(f"the docs' examples need the fixtures (SENSENET_FIXTURES): {missing}")
    for name, source in links.items():
        (directory / name).symlink_to(source)
    with gzip.open(FIXTURES / IMAGES_MODEL) as cases:
        network = json.load(cases)[0]["model"]
    (directory / "images.json").write_text(json.dumps(network))
    return [*links, "images.json"]


# ---- running a page


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_map(examples_: list[Example]) -> dict[str, str]:
    named = sorted({port for example in examples_ for port in PORT_MENTION.findall(example.code)})
    return {port: str(_free_port()) for port in named}


def _replace(text: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")
    return pattern.sub(lambda match: mapping[match.group(1)], text)


# The process that runs one page's examples in order, in its working directory (argv[1]), reading
# them as JSON on stdin and writing what each printed as JSON on stdout.
DRIVER = r"""
import contextlib, io, json, subprocess, sys, traceback

blocks, outputs, namespace = json.load(sys.stdin), [], {"__name__": "__main__"}
for block in blocks:
    if block["language"] == "python":
        printed, failed = io.StringIO(), None
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            try:
                exec(compile(block["code"], block["where"], "exec"), namespace)
            except BaseException:
                failed = traceback.format_exc()
            sys.stdout.flush()
        outputs.append({"printed": printed.getvalue(), "failed": failed})
    else:
        with open(block["log"], "w+") as log:
            try:
                status = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", block["code"]], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, timeout=block["timeout"],
                ).returncode
            except subprocess.TimeoutExpired:
                status = "timed out"
            log.seek(0)
            printed = log.read()
        failed = None if status == 0 else f"exit status {status}"
        outputs.append({"printed": printed, "failed": failed})
    if outputs[-1]["failed"]:
        break
json.dump(outputs, sys.stdout)
"""


@dataclass(frozen=True)
class Outcome:
    example: Example
    printed: str | None  # None: not reached (an earlier example failed)
    failed: str | None


def run_page(examples_: list[Example], workdir: Path, env: dict[str, str] | None = None) -> list[Outcome]:
    """Run a page's examples (those not marked) in `workdir`; what each printed, in order."""
    runnable = [example for example in examples_ if example.not_run is None]
    ports = _port_map(runnable)
    with tempfile.TemporaryDirectory(prefix="sensenet-docs-logs-") as logs:
        results = _drive(runnable, ports, Path(logs), workdir, env)
    back = {new: old for old, new in ports.items()}
    outcomes = []
    for k, example in enumerate(runnable):
        result = results[k] if k < len(results) else {"printed": None, "failed": None}
        printed = result["printed"] if result["printed"] is None else _replace(result["printed"], back)
        outcomes.append(Outcome(example, printed, result["failed"]))
    return outcomes


def _drive(
    runnable: list[Example], ports: dict[str, str], logs: Path, workdir: Path, env: dict[str, str] | None
) -> list[dict]:
    blocks = [
        {
            "language": example.language,
            "code": _replace(example.code, ports),
            "where": example.where,
            "log": str(logs / f"{k}.log"),
            "timeout": BLOCK_TIMEOUT_S,
        }
        for k, example in enumerate(runnable)
    ]
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        cwd=workdir,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its process group holds whatever the page starts: stopped at the end
    )
    try:
        stdout, stderr = driver.communicate(json.dumps(blocks), timeout=PAGE_TIMEOUT_S)
    finally:
        _stop_group(driver.pid)
    if driver.returncode != 0:
        raise RuntimeError(f"the examples' driver failed ({driver.returncode}): {stderr[-3000:]}")
    return json.loads(stdout)


def _stop_group(pgid: int) -> None:
    """SIGTERM to what a page left running (its servers), then SIGKILL to what is left after 5 s."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


# ---- comparing what was shown with what was printed


def _number_matches(shown: str, printed: str) -> bool:
    """`printed` rounds to `shown` at the last digit shown (shown may have fewer digits)."""
    if shown == printed:
        return True
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals)
    return abs(float(printed) - float(shown)) <= unit / 2 * (1 + 1e-9)


def _line_matches(shown: str, printed: str) -> bool:
    shown_numbers, printed_numbers = NUMBER.findall(shown), NUMBER.findall(printed)
    if NUMBER.split(shown) != NUMBER.split(printed) or len(shown_numbers) != len(printed_numbers):
        return False
    return all(_number_matches(s, p) for s, p in zip(shown_numbers, printed_numbers))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().split("\n")] if text.strip() else []


def _chunk_at(chunk: list[str], printed: list[str], start: int) -> bool:
    return start + len(chunk) <= len(printed) and all(
        _line_matches(s, p) for s, p in zip(chunk, printed[start : start + len(chunk)])
    )


def output_matches(shown: str, printed: str) -> bool:
    """The shown block equals what was printed: line by line, trailing spaces aside, numbers to the
    digits shown; a line `...` alone stands for any lines (none included)."""
    shown_lines, printed_lines = _lines(shown), _lines(printed)
    chunks, chunk = [], []
    for line in shown_lines:
        if line.strip() == ELLIPSIS:
            chunks.append(chunk)
            chunk = []
        else:
            chunk.append(line)
    chunks.append(chunk)
    if len(chunks) == 1:
        return len(shown_lines) == len(printed_lines) and _chunk_at(shown_lines, printed_lines, 0)
    first, *middle, last = chunks
    if not _chunk_at(first, printed_lines, 0):
        return False
    position, end = len(first), len(printed_lines) - len(last)
    if end < position or not _chunk_at(last, printed_lines, end):
        return False
    for chunk in middle:
        while position + len(chunk) <= end and not _chunk_at(chunk, printed_lines, position):
            position += 1
        if position + len(chunk) > end:
            return False
        position += len(chunk)
    return True


def problems(outcomes: list[Outcome]) -> list[str]:
    """What is wrong with a page's run: an example that failed, or printed other than it shows."""
    found = []
    for outcome in outcomes:
        example = outcome.example
        if outcome.failed:
            found.append(
                f"{example.where}: the {example.language} example failed: {outcome.failed}\n"
                f"it printed:\n{outcome.printed}"
            )
        elif outcome.printed is None:
            continue
        elif example.shown is not None and not output_matches(example.shown, outcome.printed):
            found.append(f"{example.where}: shown\n{example.shown}\nbut it printed\n{outcome.printed}")
    return found


def check_page(path: Path, env: dict[str, str] | None = None) -> list[str]:
    """Run one page's examples in a fresh directory; the problems found (empty when it is right)."""
    page_examples = examples(path)
    with tempfile.TemporaryDirectory(prefix="sensenet-docs-") as scratch:
        workdir = Path(scratch) / "page"
        workdir.mkdir()
        example_files(workdir)
        home = Path(scratch) / "home"
        home.mkdir()
        settings = {"BIGML_SENSENET_CACHE_PATH": str(home / "weights"), "HOME": str(home)}
        return problems(run_page(page_examples, workdir, {**settings, **(env or {})}))


def main(argv: list[str]) -> int:
    paths = [Path(arg).resolve() for arg in argv] or doc_pages()
    status = 0
    for path in paths:
        started = time.monotonic()
        found = check_page(path)
        took = time.monotonic() - started
        print(f"{_shown(path)}: {len(examples(path))} examples, {took:.1f} s")
        for problem in found:
            print(problem, end="\n\n")
            status = 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))

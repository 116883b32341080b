"""Build the sdist and the wheel, check them as the package index would, and try the wheel as a user.

    python tools/check_release.py [--constraints FILE] [--python PYTHON ...]

Steps, each one failing the run with a line naming what is wrong:
1. `python -m build` makes the sdist, then the wheel from the sdist (so the sdist is complete);
2. `twine check --strict` reads their metadata and README as the index renders it;
3. the wheel holds the package data (the example model, `py.typed`, the license) and metadata whose
   name and version are the project's; the sdist holds the tests, the README, the license, the
   changelog and the documentation's sources, and no installed Node packages or bytecode;
4. for each interpreter (default: this one), a fresh virtualenv without system site packages gets
   the wheel alone (its dependencies from the index, within FILE's pins), then, from a directory
   outside the source tree: `sensenet --version`, the README's example prediction (its output must
   be the README's), and tools/release_smoke.py (rows, an image, a detection on generated models).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "sensenet-local"
WHEEL_MUST_HOLD = ["sensenet/__init__.py", "sensenet/py.typed", "sensenet/examples/iris.json"]
SDIST_MUST_HOLD = [
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "pyproject.toml",
    "tests/conftest.py",
    "mkdocs.yml",
    "docs/index.md",
]
SDIST_MUST_NOT_HOLD = re.compile(r"(^|/)(node_modules|__pycache__|\.git)(/|$)|\.pyc$")
STEP_TIMEOUT = 900

sys.path.insert(0, str(REPO_ROOT))
from tools.readme_commands import readme_example  # noqa: E402


def run(command: list[str], cwd: Path = REPO_ROOT) -> str:
    print("$", shlex.join(command), flush=True)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise SystemExit(f"failed ({result.returncode}): {shlex.join(command)}\n{output}")
    return result.stdout


def project_version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (REPO_ROOT / "sensenet/_version.py").read_text(), re.M)
    if not match:
        raise SystemExit("sensenet/_version.py must set __version__ to a string literal")
    return match.group(1)


def check_wheel(wheel: Path, version: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    missing = [name for name in WHEEL_MUST_HOLD if name not in names]
    if not any(re.search(r"\.dist-info/licenses/LICENSE$", name) for name in names):
        missing.append("*.dist-info/licenses/LICENSE")
    if missing:
        raise SystemExit(f"{wheel.name} lacks {missing}")
    for field, want in (("Name", DISTRIBUTION), ("Version", version), ("License-Expression", "Apache-2.0")):
        if not re.search(rf"^{field}: {re.escape(want)}$", metadata, re.M):
            raise SystemExit(f"{wheel.name}: METADATA {field} is not {want!r}")
    print(f"ok: {wheel.name} ({len(names)} files)")


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    missing = [name for name in SDIST_MUST_HOLD if name not in names]
    stray = [name for name in names if SDIST_MUST_NOT_HOLD.search(name)]
    if missing or stray:
        raise SystemExit(f"{sdist.name}: lacks {missing}, holds {stray[:5]}")
    print(f"ok: {sdist.name} ({len(names)} files)")


def try_as_a_user(python: str, wheel: Path, constraints: Path | None, workdir: Path, version: str) -> None:
    environment = workdir / f"venv-{Path(python).name}"
    run([python, "-m", "venv", str(environment)], cwd=workdir)
    python_there = str(environment / "bin" / "python")
    pins = ["-c", str(constraints)] if constraints else []
    run([python_there, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins, str(wheel)])
    userdir = workdir / "user"
    userdir.mkdir(exist_ok=True)
    command = str(environment / "bin" / "sensenet")
    said = run([command, "--version"], cwd=userdir).strip()
    if said != f"sensenet {version}":
        raise SystemExit(f"`sensenet --version` says {said!r}, the project is {version}")
    words, expected = readme_example()
    printed = run([command, *words[1:]], cwd=userdir)
    if printed != expected:
        raise SystemExit(f"the README's example printed\n{printed}instead of\n{expected}")
    site = run([python_there, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip()
    print(run([python_there, str(REPO_ROOT / "tools/release_smoke.py"), site], cwd=userdir), end="")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, help="pins for the dependencies of the fresh installs")
    parser.add_argument("--python", action="append", help="interpreter(s) to install the wheel for")
    options = parser.parse_args()
    version = project_version()
    with tempfile.TemporaryDirectory(prefix="sensenet-release-") as temporary:
        workdir = Path(temporary)
        dist = workdir / "dist"
        run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO_ROOT)])
        (wheel,), (sdist,) = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
        run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
        check_wheel(wheel, version)
        check_sdist(sdist)
        constraints = options.constraints.resolve() if options.constraints else None
        for python in options.python or [sys.executable]:
            try_as_a_user(python, wheel, constraints, workdir, version)
    print("release check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The wheel, installed into a fresh venv outside the repository, works alone.

The running environment has symgrad installed in editable mode, which would
answer every import from the checkout. So the fresh venv gets the wheel
itself, and reaches the runtime dependencies (numpy, sympy, lark) through a
`.pth` file that names the running environment's site-packages: a directory
named in a `.pth` file is only put on sys.path, its own `.pth` files (the
editable finder among them) are not run. The test then checks that
`symgrad` is imported from the new venv.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import symgrad
from symgrad.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "window.sg"


def run(*command, cwd=None, env=None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the checkout, so the build leaves the repository untouched."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__"))
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--wheel-dir", str(dist), str(source))
    (wheel,) = dist.glob("symgrad-*.whl")
    return wheel


def test_the_wheel_ships_the_grammar_under_symgrad_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "symgrad/grammar/symgrad.lark" in names
    assert "symgrad/codegen/__init__.py" in names
    # the NumPy target, and the runtime its modules carry, read as text where installed
    assert {"symgrad/codegen/numpy/writer.py", "symgrad/codegen/numpy/runtime.py",
            "symgrad/codegen/numpy/helpers.py", "symgrad/check_runtime.py"} <= set(names)
    assert {name.split("/")[0] for name in names} == {"symgrad", f"symgrad-{symgrad.__version__}.dist-info"}


def test_the_installed_wheel_runs_outside_the_repository(wheel, tmp_path, capsys):
    env_dir = tmp_path / "env"
    run(sys.executable, "-m", "venv", str(env_dir))
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib, scripts = run(
        str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib')); "
                           "print(sysconfig.get_path('scripts'))").split("\n")[:2]
    Path(purelib, "symgrad-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", str(wheel))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(EXAMPLE, elsewhere / "window.sg")
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    clean["PYTHONNOUSERSITE"] = "1"

    imported = run(str(python), "-c", "import symgrad; print(symgrad.__file__)", cwd=elsewhere, env=clean)
    assert Path(imported.strip()).is_relative_to(env_dir)

    command = str(Path(scripts, "symgrad"))
    assert run(command, "--version", cwd=elsewhere, env=clean) == f"symgrad {symgrad.__version__}\n"
    assert main(["shapes", str(EXAMPLE)]) == 0
    assert run(command, "shapes", "window.sg", cwd=elsewhere, env=clean) == capsys.readouterr().out

    # Compiling reads the runtime files from the installed package: the same module as here.
    from symgrad.compiler import generate_module
    from symgrad.source import Source
    expected = generate_module(Source(EXAMPLE.read_text(encoding="utf-8"), "window.sg"), with_check=True)
    assert run(command, "compile", "window.sg", "--with-check", cwd=elsewhere, env=clean) == expected
    assert "passed: all 4 gradients agree" in run(command, "check", "window.sg", cwd=elsewhere, env=clean)

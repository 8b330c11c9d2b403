"""Shared fixtures: the kiln binary (KILN_BIN, set by ctest) and the repository paths."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def kiln():
    path = os.environ.get("KILN_BIN") or os.path.join(ROOT, "build", "tools", "kiln")
    if not os.path.exists(path):
        pytest.skip(f"kiln binary not found at {path}")

    def run(*args, check=True):
        r = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"kiln {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    return run


@pytest.fixture
def workdir(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def model_path(name):
    for d in ("tests/fixtures", "models"):
        p = os.path.join(ROOT, d, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(name)

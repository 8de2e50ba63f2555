"""The distribution: one version, a LICENSE and the sample world in the wheel.

`carbon-ledger demo` is the README's first command, so an installed wheel (not only a
checkout) must carry samples/: pyproject maps it to the ``ledger._samples`` package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import ledger
from ledger_cli.main import cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel as `pip install .` would (isolated build with the declared backend)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("carbon_ledger-*.whl")
    return built


def test_wheel_carries_license_samples_and_version(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"carbon_ledger-{ledger.__version__}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert wheel.name.startswith(f"carbon_ledger-{ledger.__version__}-")
    samples = REPO / "samples"
    wanted = {
        "ledger/_samples/" + path.relative_to(samples).as_posix()
        for path in samples.rglob("*")
        if path.is_file() and path.suffix in (".csv", ".jsonl", ".md", ".key", ".pub")
    }
    assert "ledger/_samples/factors.csv" in wanted  # the set is not vacuous
    assert wanted - names == set()
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata


def test_license_is_the_apache_2_text() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_version_option_prints_the_one_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"carbon-ledger, version {ledger.__version__}\n"


@pytest.mark.slow
def test_installed_wheel_runs_demo_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """`pip install` the wheel (not editable) into a fresh venv; demo runs from another dir."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CARBON_LEDGER_DB")}
    result = subprocess.run(
        [str(venv / "bin" / "carbon-ledger"), "demo", "--dir", "demo"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "verify: OK" in result.stdout
    assert (work / "demo" / "labels").is_dir()

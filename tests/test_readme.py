"""The README's commands run as written: the walkthrough block and the demo command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ledger_cli.main import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def walkthrough() -> str:
    match = re.search(r"<!-- walkthrough -->\n```bash\n(.*?)```", README, re.S)
    assert match, "README lost its walkthrough block"
    return match.group(1)


def test_readme_opens_with_the_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines() if line and line[0] != "#"]
    assert len(commands) == 2
    assert "pip install -e ." in commands[0] and "carbon-ledger demo" in commands[0]
    assert commands[1] == "bash .ci/run"


def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "samples").symlink_to(REPO / "samples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("CARBON_LEDGER_DB", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: label of 6923451000013 verified offline" in result.stdout
    assert "consistency proof from your checkpoint" in result.stdout
    assert (tmp_path / "wk" / "labels" / "6923451000013.svg").is_file()


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "verify: OK, 1414 entries" in result.output
    assert re.search(r"sup-logi\s+372\s", result.output)
    assert "change" in result.output
    labels = sorted(p.name for p in (tmp_path / "demo" / "labels").iterdir())
    assert "6923451000013.label.json" in labels and "6923451000013.pact.json" in labels
    assert len(labels) == 6 * 4 + 1


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not an earlier demo directory" in result.stderr
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me"

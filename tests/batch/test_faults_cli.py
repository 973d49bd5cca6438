"""`mailgraph faults add|list|clear` on a data directory's store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailgraph.cli import main


def test_add_list_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["faults", "--data-dir", str(tmp_path / "data")]
    assert main([*data, "add", "--route", "POST */messages/*/send", "--nth", "3", "--status", "503"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["method"], added["route"], added["nth"]) == ("POST", "*/messages/*/send", 3)
    assert main([*data, "list"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [added["id"]]
    assert main([*data, "add", "--status", "503", "--nth", "0"]) == 2  # refused with the reason
    assert "nth must be 1 or more" in capsys.readouterr().err
    assert main([*data, "clear"]) == 0 and capsys.readouterr().out.strip() == "removed 1"

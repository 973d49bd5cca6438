"""The Dockerfile and compose.yaml agree with the code and with each other (issue 14), checked without a
container engine, in seconds: their `mailgraph serve` command lines parse with the real CLI parser, the
ports, data dir and volume line up, the image runs as a numeric non-root user, and the HEALTHCHECK
command, run as written against a real `mailgraph serve` started with the image's CMD, passes while the
server is up and fails once it is gone. Building and running the image itself is
scripts/container/check.sh (docs/operations.md "Container: how it is tested")."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mailgraph.cli import _parser
from tests.e2e.test_delivery_e2e import Process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e]


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    return out


def _one(keyword: str) -> str:
    found = [rest for kw, rest in _instructions() if kw == keyword]
    assert len(found) == 1, (keyword, found)
    return found[0]


def _option(argv: list[str], name: str) -> str:
    """The value of `--name V` or `--name=V` in an argv (the last one, as argparse takes it)."""
    values = [a.split("=", 1)[1] for a in argv if a.startswith(name + "=")]
    values += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    assert values, (name, argv)
    return values[-1]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


CMD: list[str] = json.loads(_one("CMD"))
HEALTHCHECK: list[str] = json.loads(_one("HEALTHCHECK").split(" CMD ", 1)[1])


def test_the_commands_parse_with_mailgraphs_own_cli() -> None:
    assert json.loads(_one("ENTRYPOINT")) == ["mailgraph"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "mailgraph" in project["scripts"]  # the entry point pip installs into the image
    compose_cmd = _compose()["services"]["mailgraph"]["command"]
    for argv in (CMD, compose_cmd):
        args = _parser().parse_args(argv)  # a renamed or mistyped flag exits here
        assert args.command == "serve" and args.host == "0.0.0.0"


def test_base_user_volume_and_ports_line_up() -> None:
    base = [rest for kw, rest in _instructions() if kw == "ARG" and rest.startswith("BASE=")]
    assert len(base) == 1
    version = re.fullmatch(r"BASE=python:3\.(\d+)-slim", base[0])
    assert version is not None, base  # the real default: the slim Python image
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert int(version.group(1)) >= int(re.fullmatch(r">=3\.(\d+)", minimum).group(1))  # type: ignore[union-attr]
    assert [rest for kw, rest in _instructions() if kw == "FROM"] == ["${BASE} AS build", "${BASE}"]
    # USER is numeric and not root, and is the uid/gid the image creates for the data dir's owner.
    uid, gid = map(int, _one("USER").split(":"))
    assert uid != 0 and gid != 0
    run = " ".join(rest for kw, rest in _instructions() if kw == "RUN")
    assert f"useradd --system --uid {uid}" in run and f"groupadd --system --gid {gid}" in run
    assert "install -d -m 0700 -o mailgraph -g mailgraph /data" in run
    # The data dir: VOLUME, WORKDIR, the CMD's --data-dir and compose's volume target are one path.
    data_dir = _option(CMD, "--data-dir")
    assert json.loads(_one("VOLUME")) == [data_dir]
    service = _compose()["services"]["mailgraph"]
    assert _option(service["command"], "--data-dir") == data_dir
    assert [v.split(":")[1] for v in service["volumes"]] == [data_dir]
    assert {v.split(":")[0] for v in service["volumes"]} <= set(_compose()["volumes"])
    # Ports: EXPOSE = the CMD's HTTP and SMTP ports = compose's container ports.
    ports = {_option(CMD, "--port"), _option(CMD, "--smtp-port")}
    assert set(_one("EXPOSE").split()) == ports
    assert {p.split(":")[1] for p in service["ports"]} == ports
    assert {_option(service["command"], "--port"), _option(service["command"], "--smtp-port")} == ports


def test_compose_relays_to_its_catcher_and_the_context_has_what_the_build_copies() -> None:
    compose = _compose()
    relay = _option(compose["services"]["mailgraph"]["command"], "--relay")
    catcher = re.fullmatch(r"smtp://([\w-]+):(\d+)", relay)
    assert catcher is not None and catcher.group(1) in compose["services"], relay
    assert compose["services"]["mailgraph"]["depends_on"] == [catcher.group(1)]
    override = yaml.safe_load((ROOT / "scripts/container/compose.catcher.yaml").read_text())
    assert set(override["services"]) == {catcher.group(1)}  # it replaces the catcher only
    assert f"0.0.0.0:{catcher.group(2)}" in override["services"][catcher.group(1)]["entrypoint"]
    # The build context (.dockerignore) keeps everything the Dockerfile copies.
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    copied = [rest.split()[:-1] for kw, rest in _instructions() if kw == "COPY" and "--from" not in rest]
    for path in (p for group in copied for p in group):
        assert path not in ignored and (ROOT / path).exists(), path


def test_the_healthcheck_passes_against_the_images_command_and_fails_without_it(tmp_path: Path) -> None:
    port = _option(CMD, "--port")
    url = f"http://127.0.0.1:{port}/health"
    assert HEALTHCHECK[0] == "python" and f"'{url}'" in HEALTHCHECK[-1]
    # The image's CMD as it is, except on loopback, a free port and a temporary data dir.
    args = [a for a in CMD if a != "serve"]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    args[args.index("--smtp-port") + 1] = "0"
    args[args.index("--data-dir") + 1] = str(tmp_path / "data")
    server = Process(tmp_path / "data", *args)
    check = [sys.executable, *HEALTHCHECK[1:-1], HEALTHCHECK[-1].replace(url, f"{server.url}/health")]
    try:
        assert subprocess.run(check, capture_output=True, timeout=10).returncode == 0
    finally:
        server.kill(signal.SIGTERM)
    gone = subprocess.run(check, capture_output=True, timeout=10)
    assert gone.returncode != 0, gone

"""deploy/compose.yaml and mosquitto.conf: consistent with the image, and a real
mosquitto accepts the configuration."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from server.auth.tokens import TokenStore
from tests.unit.deploy.dockerfile_rules import exec_form, parse
from tests.unit.deploy.manifests import DEPLOY, cli_env_names

COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_services_and_build() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"parley", "mosquitto"}
    build = services["parley"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()


def test_parley_command_is_the_image_cmd() -> None:
    _, stages = parse((DEPLOY / "Dockerfile").read_text())
    cmd = exec_form(stages[-1].all("CMD")[-1].args)
    assert COMPOSE["services"]["parley"]["command"] == cmd == ["parley", "serve"]


def test_parley_environment() -> None:
    env = COMPOSE["services"]["parley"]["environment"]
    unknown = sorted(k for k in env if k not in cli_env_names())
    assert unknown == []
    assert env["PARLEY_HOST"] == "0.0.0.0"
    assert env["PARLEY_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert env["PARLEY_TOKENS_FILE"] == "/run/secrets/parley_tokens"
    assert "parley_tokens" in COMPOSE["services"]["parley"]["secrets"]


def test_ports_are_published_on_loopback_only() -> None:
    for svc in COMPOSE["services"].values():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_example_token_file_parses() -> None:
    store = TokenStore.from_file(DEPLOY / "tokens.example.toml")
    assert {p.role for p in store.principals} == {"speak", "listen", "admin"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mosquitto_accepts_the_config(tmp_path: Path) -> None:
    """Run the real broker on the config (port and address moved to loopback)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert Path(exe).exists(), "mosquitto (Debian package) is needed for this test"
    port = _free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    assert "listener 1883 0.0.0.0" in conf
    local = tmp_path / "mosquitto.conf"
    local.write_text(conf.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1"))
    proc = subprocess.Popen([exe, "-c", str(local)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        connected = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    connected = True
                    break
            except OSError:
                time.sleep(0.1)
        assert connected, f"mosquitto did not start: rc={proc.poll()}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "Error" not in out, out

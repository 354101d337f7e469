"""deploy/compose.yaml and the broker's files (mosquitto.conf, mosquitto.acl, the
entrypoint script): consistent with the image, and a real mosquitto run as compose
runs it refuses anonymous clients and caption consumers' publications."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import yaml

from server.security.tokens import TokenStore
from tests.integration.rooms_support import compose_broker
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
    # The replicas log in to the broker, and sign what they publish.
    assert env["PARLEY_MQTT_URL"].startswith("mqtt://parley:${MQTT_PARLEY_PASSWORD:?")
    assert env["PARLEY_MQTT_URL"].endswith("}@mosquitto:1883")
    assert env["PARLEY_CLUSTER_KEY"].startswith("${PARLEY_CLUSTER_KEY:?")
    assert env["PARLEY_TOKENS_FILE"] == "/run/secrets/parley_tokens"
    assert "parley_tokens" in COMPOSE["services"]["parley"]["secrets"]


def test_ports_are_published_on_loopback_only() -> None:
    for svc in COMPOSE["services"].values():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_example_token_file_parses() -> None:
    store = TokenStore.from_file(DEPLOY / "tokens.example.toml")
    assert {p.role for p in store.principals} == {"speak", "listen", "admin"}


def test_the_broker_runs_with_passwords_and_the_acl() -> None:
    mqtt = COMPOSE["services"]["mosquitto"]
    conf = (DEPLOY / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf and "allow_anonymous true" not in conf
    assert "password_file /mosquitto/auth/passwd" in conf
    assert "acl_file /mosquitto/config/mosquitto.acl" in conf
    mounts = {v.split(":")[1]: v.split(":")[0] for v in mqtt["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./mosquitto.conf"
    assert mounts["/mosquitto/config/mosquitto.acl"] == "./mosquitto.acl"
    assert mounts["/mosquitto/config/entrypoint.sh"] == "./mosquitto-entrypoint.sh"
    assert mqtt["entrypoint"] == ["/bin/sh", "/mosquitto/config/entrypoint.sh"]
    assert any(t.startswith("/mosquitto/auth") for t in mqtt["tmpfs"])
    assert set(mqtt["environment"]) == {"MQTT_PARLEY_PASSWORD", "MQTT_CAPTIONS_PASSWORD"}
    assert "-u captions" in mqtt["healthcheck"]["test"][1]
    # Replicas may publish under parley/, caption consumers only subscribe.
    acl = [line.split() for line in (DEPLOY / "mosquitto.acl").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert acl[:2] == [["user", "parley"], ["topic", "readwrite", "parley/#"]]
    assert acl[2:4] == [["user", "captions"], ["topic", "read", "parley/#"]]
    assert all(rule[1] == "read" for rule in acl[3:])
    # Every secret compose asks for is in the example .env.
    example = dict(line.split("=", 1) for line in (DEPLOY / "env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(example) == {"MQTT_PARLEY_PASSWORD", "MQTT_CAPTIONS_PASSWORD", "PARLEY_CLUSTER_KEY"}


def test_the_compose_broker_refuses_anonymous_and_caption_publishers(tmp_path: Path) -> None:
    """Run the real broker as compose does (entrypoint script, config, ACL): an anonymous
    client is refused, a caption consumer may subscribe but its publication goes nowhere,
    a replica's is delivered."""
    async def run(port: int) -> tuple[str, list[bytes]]:
        v5 = aiomqtt.ProtocolVersion.V5
        try:
            async with aiomqtt.Client("127.0.0.1", port, protocol=v5):
                anonymous = "connected"
        except aiomqtt.MqttCodeError as exc:
            anonymous = str(exc)
        got: list[bytes] = []
        async with aiomqtt.Client("127.0.0.1", port, username="captions", password="c-pass",
                                  protocol=v5) as consumer:
            await consumer.subscribe("parley/#", qos=1)
            await consumer.publish("parley/rooms/r/transcript", b"forged", qos=1)
            async with aiomqtt.Client("127.0.0.1", port, username="parley", password="p-pass",
                                      protocol=v5) as replica:
                await replica.publish("parley/rooms/r/transcript", b"genuine", qos=1)
            async with asyncio.timeout(5):
                async for m in consumer.messages:
                    got.append(bytes(m.payload))  # type: ignore[arg-type]
                    break
        return anonymous, got

    with compose_broker(tmp_path, "p-pass", "c-pass") as port:
        anonymous, got = asyncio.run(run(port))
    assert "Not authorized" in anonymous
    assert got == [b"genuine"]

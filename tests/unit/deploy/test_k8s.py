"""deploy/k8s: every manifest valid against the Kubernetes JSON schemas, and consistent.

Schemas come from the PyPI package kubernetes-validate (offline; strict mode
rejects unknown fields, the usual sign of a typo or wrong indentation).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.security.tokens import TokenStore
from tests.unit.deploy.manifests import (
    DEPLOY,
    DRAIN_DEADLINE_S,
    K8S,
    cli_env_names,
    find,
    grace_seconds,
    k8s_documents,
)

#: The oldest Kubernetes still commonly run, and the newest the package knows.
VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
DOCS = k8s_documents()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "doc", [d for _, d in DOCS], ids=[f"{p.name}:{d['kind']}" for p, d in DOCS]
)
def test_schema_valid(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_validator_rejects_a_broken_manifest() -> None:
    bad = yaml.safe_load((K8S / "deployment.yaml").read_text())
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = find("Deployment", "parley")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    c: dict[str, Any] = pod_spec()["containers"][0]
    return c


def test_probes() -> None:
    c = container()
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ports


def test_runs_the_image_command_as_non_root() -> None:
    c = container()
    assert c["command"] == ["parley", "serve"]
    sec = pod_spec()["securityContext"]
    assert sec["runAsNonRoot"] is True and sec["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_grace_period_covers_prestop_and_drain() -> None:
    pre = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre[0] == "sleep"
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace >= int(pre[1]) + DRAIN_DEADLINE_S + 5
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert grace_seconds(compose["services"]["parley"]["stop_grace_period"]) == grace


def test_service_and_pdb_select_the_server_pods() -> None:
    labels = find("Deployment", "parley")["spec"]["template"]["metadata"]["labels"]
    svc = find("Service", "parley")["spec"]
    assert svc["selector"].items() <= labels.items()
    assert svc["ports"][0]["targetPort"] in {p["name"] for p in container()["ports"]}
    pdb = find("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert pdb.items() <= labels.items()
    mqtt_labels = find("Deployment", "parley-mqtt")["spec"]["template"]["metadata"]["labels"]
    assert not svc["selector"].items() <= mqtt_labels.items()  # the broker is not a backend


def test_hpa_scales_the_deployment_before_replicas_are_full() -> None:
    hpa = find("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "parley"
    assert hpa["minReplicas"] >= 2  # the PDB can then always let one go
    metrics = {m["type"]: m for m in hpa["metrics"]}
    assert metrics["Pods"]["pods"]["metric"]["name"] == "parley_active_sessions"
    target = int(metrics["Pods"]["pods"]["target"]["averageValue"])
    max_sessions = int(find("ConfigMap", "parley-config")["data"]["PARLEY_MAX_SESSIONS"])
    assert 0 < target < max_sessions
    assert metrics["Resource"]["resource"]["name"] == "cpu"


def test_config_names_are_known_to_the_cli() -> None:
    known = cli_env_names()
    cm = find("ConfigMap", "parley-config")["data"]
    env = {e["name"] for e in container()["env"]}
    unknown = sorted(k for k in set(cm) | env if k.startswith("PARLEY_") and k not in known)
    assert unknown == [], f"not a parley flag or variable: {unknown}"
    assert cm["PARLEY_HOST"] == "0.0.0.0"
    assert int(cm["PARLEY_PORT"]) == container()["ports"][0]["containerPort"]


def _env() -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container()["env"]}


def test_mqtt_url_logs_in_to_the_broker_service() -> None:
    env = _env()
    assert "PARLEY_MQTT_URL" not in find("ConfigMap", "parley-config")["data"]
    svc = find("Service", "parley-mqtt")["spec"]
    assert env["PARLEY_MQTT_URL"]["value"] == (
        f"mqtt://parley:$(MQTT_PARLEY_PASSWORD)@parley-mqtt:{svc['ports'][0]['port']}")
    # Kubernetes expands $(VAR) only from variables defined before it.
    names = [e["name"] for e in container()["env"]]
    assert names.index("MQTT_PARLEY_PASSWORD") < names.index("PARLEY_MQTT_URL")
    users = find("Secret", "parley-mqtt-users")
    ref = env["MQTT_PARLEY_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "parley-mqtt-users" and ref["key"] in users["stringData"]


def test_replicas_sign_with_the_cluster_key_secret() -> None:
    ref = _env()["PARLEY_CLUSTER_KEY"]["valueFrom"]["secretKeyRef"]
    secret = find("Secret", ref["name"])
    from server.cli import cluster_key

    assert cluster_key(None, {"PARLEY_CLUSTER_KEY": secret["stringData"][ref["key"]]})


def test_the_broker_runs_the_deploy_files_with_passwords_and_the_acl() -> None:
    data = find("ConfigMap", "parley-mqtt")["data"]
    for name, source in (("mosquitto.conf", "mosquitto.conf"), ("mosquitto.acl", "mosquitto.acl"),
                         ("entrypoint.sh", "mosquitto-entrypoint.sh")):
        assert data[name] == (DEPLOY / source).read_text(), f"{name} differs from deploy/{source}"
    pod = find("Deployment", "parley-mqtt")["spec"]["template"]["spec"]
    broker = pod["containers"][0]
    assert broker["command"] == ["/bin/sh", "/mosquitto/config/entrypoint.sh"]
    assert broker["envFrom"] == [{"secretRef": {"name": "parley-mqtt-users"}}]
    users = find("Secret", "parley-mqtt-users")["stringData"]
    assert set(users) == {"MQTT_PARLEY_PASSWORD", "MQTT_CAPTIONS_PASSWORD"}
    mounts = {m["mountPath"]: m["name"] for m in broker["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/mosquitto/auth"]]  # where the hashes are written
    assert volumes[mounts["/mosquitto/config"]]["configMap"]["name"] == "parley-mqtt"


def test_token_secret_is_a_valid_token_file(tmp_path: Path) -> None:
    secret = find("Secret", "parley-tokens")
    path = tmp_path / "tokens.toml"
    path.write_text(secret["stringData"]["tokens.toml"])
    store = TokenStore.from_file(path)
    assert {p.role for p in store.principals} == {"speak", "listen"}
    mount = next(m for m in container()["volumeMounts"] if m["name"] == "tokens")
    env = {e["name"]: e.get("value") for e in container()["env"]}
    assert env["PARLEY_TOKENS_FILE"] == f"{mount['mountPath']}/tokens.toml"
    tomllib.loads(secret["stringData"]["tokens.toml"])

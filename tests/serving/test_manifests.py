"""The production files in serving/ agree with each other: the Kubernetes manifests use the official image, mount the
push directory where serving/model_config.pbtxt expects it, probe the configured model, and expose its ports."""

import os

import pytest
import yaml

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

from serving.dev_server import read_model_config_file  # noqa: E402

SERVING = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "serving")


def _load(name):
    with open(os.path.join(SERVING, "k8s", name), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_deployment_serves_the_configured_model_with_the_official_image():
    (model,) = read_model_config_file(os.path.join(SERVING, "model_config.pbtxt"))
    deployment = _load("deployment.yaml")
    assert deployment["kind"] == "Deployment"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "tensorflow/serving:2.16.1"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    probe = container["readinessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == (f"/v1/models/{model.name}", "http")

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_flag = next(a for a in container["args"] if a.startswith("--model_config_file="))
    config_path = config_flag.split("=", 1)[1]
    assert os.path.dirname(config_path) == mounts["config"]
    assert model.base_path.startswith(mounts["models"] + "/")  # the push directory volume holds <model>/<version>
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "i2i-serving-config"
    assert volumes["models"]["persistentVolumeClaim"]["readOnly"] is True
    assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"][
        "labels"].items()


def test_service_exposes_the_deployment_ports():
    deployment, service = _load("deployment.yaml"), _load("service.yaml")
    assert service["kind"] == "Service"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {(p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {(8500, "grpc"), (8501, "http")}

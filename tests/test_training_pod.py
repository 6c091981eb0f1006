"""The training pod spec, passed through dagster-k8s's own pod builder and the Kubernetes
client's models, as PipesK8sClient does before it creates the pod."""

from __future__ import annotations

import pytest

from smi_assets.checkpoints.training_pod import GPU_RESOURCE, training_pod_spec

pipes = pytest.importorskip("dagster_k8s.pipes", reason="dagster-k8s is the Kubernetes deployment's extra")
kubernetes = pytest.importorskip("kubernetes")


def built_pod(spec: dict):
    body = pipes.build_pod_body(
        pod_name="dagster-train-1", image="registry.example/smi-forecast:1", command=["python", "-m", "smi_assets.checkpoints.train_process"],
        env_vars={"DAGSTER_PIPES_CONTEXT": "x"}, base_pod_meta=None, base_pod_spec=spec,
    )  # fmt: skip
    assert isinstance(body, kubernetes.client.V1Pod)  # built through the client's models, so field names are checked
    return body


def test_gpu_pod_requests_the_gpus_and_mounts_the_shared_data_where_workers_have_it():
    pod = built_pod(training_pod_spec(data_claim="smi-data", gpus=2, node_selector={"pool": "gpu"}))
    (container,) = pod.spec.containers
    assert container.image == "registry.example/smi-forecast:1"
    assert container.command == ["python", "-m", "smi_assets.checkpoints.train_process"]
    assert container.resources.limits == {"cpu": "8", "memory": "64Gi", GPU_RESOURCE: "2"}
    assert container.resources.requests == container.resources.limits
    mounts = {mount.name: mount.mount_path for mount in container.volume_mounts}
    assert mounts == {"data": "/data", "shm": "/dev/shm"}
    volumes = {volume.name: volume for volume in pod.spec.volumes}
    assert volumes["data"].persistent_volume_claim.claim_name == "smi-data"
    assert volumes["shm"].empty_dir.medium == "Memory"
    assert [t.key for t in pod.spec.tolerations] == [GPU_RESOURCE] and pod.spec.node_selector == {"pool": "gpu"}
    assert pod.spec.restart_policy == "Never"
    assert {env.name for env in container.env} == {"DAGSTER_PIPES_CONTEXT"}


def test_cpu_pod_asks_for_no_gpu_and_tolerates_no_gpu_taint():
    pod = built_pod(training_pod_spec(data_claim="smi-data", gpus=0, cpu="4", memory="16Gi"))
    assert pod.spec.containers[0].resources.limits == {"cpu": "4", "memory": "16Gi"}
    assert pod.spec.tolerations is None


@pytest.mark.parametrize(("arguments", "problem"), [({"data_claim": "smi-data", "gpus": -1}, "gpus"), ({"data_claim": ""}, "data_claim")])
def test_bad_pod_settings_are_refused(arguments, problem):
    with pytest.raises(ValueError, match=problem):
        training_pod_spec(**arguments)

"""The Kubernetes pod a training run gets when it leaves the run worker (``PipesK8sClient``).

On Kubernetes the `checkpoints` asset launches ``python -m smi_assets.checkpoints.train_process``
in a pod of its own through ``dagster_k8s.PipesK8sClient.run(base_pod_spec=...)``, instead of
a subprocess. :func:`training_pod_spec` is that pod spec: the GPU, CPU and memory requests,
the GPU node's taint, a memory-backed ``/dev/shm`` (NCCL and data-loader workers exchange
tensors there; the container default of 64 MB is too small), and the shared data volume
mounted at the same path as in every other worker, so the corpus files and checkpoint folder
passed as pipes extras resolve inside the pod. The pipes client fills in the image, command
and the pipes environment of the first container.
"""

from __future__ import annotations

GPU_RESOURCE = "nvidia.com/gpu"


def training_pod_spec(
    *,
    data_claim: str,
    data_mount: str = "/data",
    gpus: int = 1,
    cpu: str = "8",
    memory: str = "64Gi",
    shm_size: str = "16Gi",
    node_selector: dict[str, str] | None = None,
) -> dict:
    """A ``base_pod_spec`` (camelCase Kubernetes PodSpec) for one training pod.

    `data_claim` is the PersistentVolumeClaim of the shared data directory (ReadWriteMany);
    `gpus` = 0 gives a CPU-only pod (no GPU limit, no GPU toleration). Requests equal limits,
    so the pod is scheduled only where all of it fits and is not evicted under pressure.
    """
    if gpus < 0:
        raise ValueError(f"gpus must be 0 or more, got {gpus}")
    if not data_claim:
        raise ValueError("data_claim names the PersistentVolumeClaim of the shared data directory; it is empty")
    amounts = {"cpu": cpu, "memory": memory}
    if gpus:
        amounts[GPU_RESOURCE] = str(gpus)
    spec: dict = {
        "restartPolicy": "Never",
        "containers": [{
            "resources": {"requests": dict(amounts), "limits": dict(amounts)},
            "volumeMounts": [{"name": "data", "mountPath": data_mount}, {"name": "shm", "mountPath": "/dev/shm"}],
        }],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": data_claim}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm_size}},
        ],
    }  # fmt: skip
    if gpus:
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return spec

"""The public reference tables the project reads, pinned to upstream commits with their sha256.

Each :class:`ReferenceFile` is a path under the reference folder (the same layout as
``../shared/reference``) made from one or more :class:`Upstream` files: a file of a public
GitHub repository at a full 40-hex commit, checked by its own sha256 before it is used.

Two files are not upstream verbatim; the upstream repository of the SMI paper publishes
their inputs, and the derivations (``smi_assets.reference_data.derive``) reproduce the
project's copies exactly:

- ``smi/merge_outputs.parquet``: the 24 per-model ``infer/merge_outputs/<model>.json``
  files concatenated in file-name order, with the file stem as the leading ``model`` column.
  Checked on its table content (sha256 of the table written as CSV), not its bytes: another
  polars version may encode the same table into different Parquet bytes. The copy in
  ``../shared/reference`` (sha256 ``4abccbd0...``) is what polars 2.1.0 writes.
- ``smi/models.csv``: the sheet of ``download_tools/baseline.xlsx`` written as CSV
  (checked on its bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SMI_REPO, SMI_COMMIT = "yuhui1038/SMI", "af616cb209b4352a7399eddb38b76b8cfabe36a8"
OBSSCALING_REPO, OBSSCALING_COMMIT = "ryoungj/ObsScaling", "4d6e1e43fd2635d04654aa77d1df9d5266ea0382"
CPP_REPO, CPP_COMMIT = "Don-Joey/CPP_LLM", "4c4319a36d38a8eff086559c1a0c751570e6740f"
NJS_REPO, NJS_COMMIT = "nightingal3/llm-pretraining-behaviours", "5404713b2a8d4ef6aadbe75e9b8e597cfd9121be"

Derivation = Literal["copy", "concat_model_json", "excel_to_csv"]


@dataclass(frozen=True)
class Upstream:
    """One file of a public repository at a pinned commit."""

    repo: str
    commit: str
    path: str
    sha256: str

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class ReferenceFile:
    """A file of the reference folder, how it is made from its upstream files and its
    expected sha256 (of the bytes, or of the table as CSV when `digest_of` is "table")."""

    name: str
    sha256: str
    sources: tuple[Upstream, ...]
    derivation: Derivation = "copy"
    digest_of: Literal["bytes", "table"] = "bytes"


def _verbatim(name: str, repo: str, commit: str, path: str, sha256: str) -> ReferenceFile:
    return ReferenceFile(name, sha256, (Upstream(repo, commit, path, sha256),))


# Per-model outputs of the SMI repo, in file-name order (the row order of merge_outputs.parquet).
SMI_MODEL_OUTPUTS = (
    ("TinyLlama-1.1B-intermediate-step-480k-1T", "6672eb3f19b6a849e8806c7ba21456d37139bc66cecf41f20fd4205059fecf82"),
    ("bloom-1b1", "ad17f3786ae682480ee4b6ec24c2d61bed03f5a83589b98eb7c77c98023b2046"),
    ("bloom-1b7", "c18fd4f54287203879ceb0ebd0903f318dd5d5b1a4c16a663d9d6162eb220fc0"),
    ("bloom-3b", "afc90ead6387dbfc99e39ac91b429b15800a35f371d744c3ed49133e4dee5158"),
    ("bloom-560m", "2fe8f44565b863edd51fc84e117407a430a8a80257204a070e53aca9d408c4a6"),
    ("bloom-7b1", "639f3a178ccf9c3a6f6d2095ca34083bc27130b5dfd0a030b0bb18a29aad2255"),
    ("bloom", "3a6bbbcab5d98a6a7cb6df348d54f462bcc2aa5eddc2be804bbf976080b5c343"),
    ("gpt-j-6b", "0c59b8231dced8acc109026d3f8f18143a863f9becac2c995cf59f4d6248996b"),
    ("gpt-neo-1.3B", "9fadb463458b89c4a03f259d472f73d5a84ecda87fef777b45edfa35eadb3194"),
    ("gpt-neo-125m", "d3bc234ac25bfa181242e950036f6f60ed02b0b0ace0541874c897a17eb99b59"),
    ("gpt-neo-2.7B", "784ac53c4a6ce77ac816f07292d05daf97df750c07c161ac366cdc396e4c4c10"),
    ("gpt-neox-20b", "922c126190651a81eed3d4f7574944fa412e4cad0046a64d4c8f7ada8468ea3c"),
    ("ours-1.6b", "1cd41a68393c778cf3cd52e0579a37105026969d1df551bee5aceb091a75233c"),
    ("ours-13b", "36ab7935c88ff9c400466e91d51a6cbafe1f0e0835f6fdf9430cd6c6638dc2dc"),
    ("ours-7b", "3ff85a19ae6460265fd25b2c016bb87b620a84d04c3d940e57b1bb1eb5f711cc"),
    ("pythia-1.4b", "5a874de7f3ba2e9bfd6ded4b0755918df1f21bf6bd92c89100c7250bd4df2937"),
    ("pythia-12b", "f69f964b5be90a2244dc06f071b6c45f38393c053da968f6dbfc6440dd3f1640"),
    ("pythia-14m", "edb10cd287e81cddd7ea5e05b22dd7048ee9a0e53a8948af616636a96d99d6e2"),
    ("pythia-160m", "91ad20ea7d43e4a187c7b9c2f923ac7721198cffb4796118a0afb65e47e0ede2"),
    ("pythia-2.8b", "378fe19b4b2cde688c7668fdf9f82088062d71505d5e65db99aa07926ab190a2"),
    ("pythia-31m", "f13f6c96ca720da2dc76ad8b4274c5eac49356b9dcd4743e99f0de90b4d7e0f1"),
    ("pythia-410m", "6af808129484b69a19b85f223d8e72b4eeb2f749392f3054ebddb8e04bc5e1a2"),
    ("pythia-6.9b", "4129f4e4b331c4868d367f0a249c27af1ef0504953770f3288afc124caa815f8"),
    ("pythia-70m", "1158ff42b7a5386ce4dda7293008561d45d23a41defbe358802bd494a7910d20"),
)  # fmt: skip

NJS_METADATA = "metadata/duckdb/2025_03_03.duckdb"

REFERENCE_FILES: tuple[ReferenceFile, ...] = (
    ReferenceFile(
        "smi/merge_outputs.parquet", "137a3c42e0d720b73e6b7bb9b16e4a0378439c1dc23f62749dee2792309aee4f",
        tuple(Upstream(SMI_REPO, SMI_COMMIT, f"infer/merge_outputs/{model}.json", sha) for model, sha in SMI_MODEL_OUTPUTS),
        derivation="concat_model_json", digest_of="table",
    ),
    ReferenceFile(
        "smi/models.csv", "d22db28af8d2b4338d83404bb30379ba2021cc7a148753ba68eadf97ef21d73a",
        (Upstream(SMI_REPO, SMI_COMMIT, "download_tools/baseline.xlsx", "30c462507d275e3a0f9e96451b938b7df98a642a81727cc8bd85c7c6450591d5"),),
        derivation="excel_to_csv",
    ),
    _verbatim("smi/pararel_15classes.json", SMI_REPO, SMI_COMMIT, "search/pararel_15classes.json", "5a9309d9091b421c1658ae8ada160bb72f9065353d5b035d04c991e3c933e143"),
    _verbatim("smi/multi_templates.json", SMI_REPO, SMI_COMMIT, "infer/multi_templates.json", "a32a61b17ab769a28d8a33f9ff8c81059b43a644d6d148f1703507f7318ec425"),
    _verbatim("obsscaling/LICENSE", OBSSCALING_REPO, OBSSCALING_COMMIT, "LICENSE", "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"),
    _verbatim("obsscaling/base_llm_benchmark_eval.csv", OBSSCALING_REPO, OBSSCALING_COMMIT, "eval_results/base_llm_benchmark_eval.csv", "511996815735a4c46251dc585dcc525e370d148201f86561e6f927f9df2d0db8"),
    _verbatim("obsscaling/base_llm_emergent_capability_eval.csv", OBSSCALING_REPO, OBSSCALING_COMMIT, "eval_results/base_llm_emergent_capability_eval.csv", "a156beee73c39b7833c3c53535c473939105512d85e90b0143be7325e516ef7c"),
    _verbatim("cpp/crowdsource_performance.csv", CPP_REPO, CPP_COMMIT, "data/crowdsource_performance.csv", "cc8398bd025e4bbb498c2650a9f5f9f4a44299627c20055da757d3a43c415e1d"),
    _verbatim("cpp/model_feature.csv", CPP_REPO, CPP_COMMIT, "data/model_feature.csv", "998da96e13e84e96759ee92805d7102b8eb6186cc750e433b055a87c407bf3d7"),
    _verbatim("cpp/benchmark_feature.csv", CPP_REPO, CPP_COMMIT, "data/benchmark_feature.csv", "da7f5cee65195ecdd4de6efaefc3fda9d2971df8f1839e3f2bdca8133b764797"),
    _verbatim("not_just_scaling/model_annotations.csv", NJS_REPO, NJS_COMMIT, f"{NJS_METADATA}/model_annotations.csv", "3bd6a49d6b677ef3ab16a9a4758075e1c0da517abd25d51937e1a27a4232acc9"),
    _verbatim("not_just_scaling/dataset_info.csv", NJS_REPO, NJS_COMMIT, f"{NJS_METADATA}/dataset_info.csv", "8f7f6106e43c8f5c36a4078f84ce83d70e3cee5aa598d2c9a7f68eacdb0267a8"),
    _verbatim("not_just_scaling/evaluation_results.csv", NJS_REPO, NJS_COMMIT, f"{NJS_METADATA}/evaluation_results.csv", "7012e7eed6505d174e37e54ea56b11674cca2f83f012de7d1bf96c35c29de7a1"),
    _verbatim("not_just_scaling/forward_generation_results_303.csv", NJS_REPO, NJS_COMMIT, "performance_prediction/selected_feats/forward_generation_results_303.csv", "14a6f45a6cc1bf96df2a213ca7d02390cc8ce870ab8e8b69c71bec8412c44aea"),
)  # fmt: skip

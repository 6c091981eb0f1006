"""Reference domain: the public reference tables (`smi fetch-reference`), an input the pipeline
does not make. The SMI paper's fits and the cross-model benchmark tables read them."""

import dagster as dg

from smi_assets.orchestration.observe import REFERENCE_TABLES, current_versions, observable_input
from smi_assets.orchestration.resources import InputsResource


@observable_input(
    key=REFERENCE_TABLES,
    group_name="reference",
    description=(
        "The reference tables folder (`SMI_REFERENCE_DIR`, filled by `smi fetch-reference`), observed by `inputs_sensor`: "
        "its data version is its content hash. While the folder is absent it stays unobserved and nothing that reads it "
        "is automated."
    ),
)
def reference_tables(inputs: InputsResource) -> dg.DataVersion:
    versions = current_versions(inputs, REFERENCE_TABLES)
    if None not in versions:
        raise dg.Failure(f"reference tables folder {inputs.reference_dir} is absent: run `smi fetch-reference`, or set SMI_REFERENCE_DIR")
    return dg.DataVersion(versions[None])

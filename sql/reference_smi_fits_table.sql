-- The paper's fits recomputed from the reference file; `new_fits` is registered by the caller.
CREATE OR REPLACE TABLE reference_smi_fits AS SELECT * FROM new_fits;

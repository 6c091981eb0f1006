-- The CBQA questions (one row per triple x template), rebuilt from the asset's Parquet snapshot.
CREATE OR REPLACE TABLE questions AS
SELECT idx, rel, template_id, prompt, answers
FROM read_parquet($path);

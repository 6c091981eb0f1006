-- The knowledge triples, rebuilt from the asset's Parquet snapshot.
CREATE OR REPLACE TABLE triples AS
SELECT idx, subj, rel, obj, subj_aliases, obj_aliases
FROM read_parquet($path);

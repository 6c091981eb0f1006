-- The knowledge-frequency table (one row per triple, with its relation), rebuilt from the
-- asset's Parquet snapshot.
CREATE OR REPLACE TABLE knowledge_frequency AS
SELECT f.*, t.rel
FROM read_parquet($path) AS f
JOIN triples AS t USING (idx);

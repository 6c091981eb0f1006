-- The cross-model benchmark table (see smi_assets/crossmodel/benchmark_table.py). Each
-- source's rows are replaced together by crossmodel_replace_source.sql.
CREATE TABLE IF NOT EXISTS crossmodel_models (
    source VARCHAR, model VARCHAR, family VARCHAR, params DOUBLE, tokens DOUBLE, flops DOUBLE
);
CREATE TABLE IF NOT EXISTS crossmodel_model_features (
    source VARCHAR, model VARCHAR, feature VARCHAR, value DOUBLE, label VARCHAR
);
CREATE TABLE IF NOT EXISTS crossmodel_scores (
    source VARCHAR, model VARCHAR, benchmark VARCHAR, score DOUBLE
);
CREATE TABLE IF NOT EXISTS crossmodel_benchmark_features (
    source VARCHAR, benchmark VARCHAR, feature VARCHAR, label VARCHAR
);

-- Replace one source's rows ($source) with the registered frames new_models,
-- new_model_features, new_scores and new_benchmark_features. Run inside a transaction.
DELETE FROM crossmodel_models WHERE source = $source;
DELETE FROM crossmodel_model_features WHERE source = $source;
DELETE FROM crossmodel_scores WHERE source = $source;
DELETE FROM crossmodel_benchmark_features WHERE source = $source;
INSERT INTO crossmodel_models SELECT source, model, family, params, tokens, flops FROM new_models;
INSERT INTO crossmodel_model_features SELECT source, model, feature, value, label FROM new_model_features;
INSERT INTO crossmodel_scores SELECT source, model, benchmark, score FROM new_scores;
INSERT INTO crossmodel_benchmark_features SELECT source, benchmark, feature, label FROM new_benchmark_features;

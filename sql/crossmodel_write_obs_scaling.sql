-- Replace the observational-scaling results with the registered frames.
CREATE OR REPLACE TABLE crossmodel_obs_scaling_predictors AS SELECT * FROM obs_predictors;
CREATE OR REPLACE TABLE crossmodel_obs_scaling_components AS SELECT * FROM obs_components;
CREATE OR REPLACE TABLE crossmodel_obs_scaling_family_fits AS SELECT * FROM obs_family_fits;
CREATE OR REPLACE TABLE crossmodel_obs_scaling_predictions AS SELECT * FROM obs_predictions;

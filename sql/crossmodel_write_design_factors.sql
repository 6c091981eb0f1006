-- Replace the design-factor regression results with the registered frames.
CREATE OR REPLACE TABLE crossmodel_design_factor_tasks AS SELECT * FROM design_tasks;
CREATE OR REPLACE TABLE crossmodel_design_factor_attributions AS SELECT * FROM design_attributions;

-- Replace the collaborative-performance-prediction results with the registered frames.
CREATE OR REPLACE TABLE crossmodel_cpp_variants AS SELECT * FROM cpp_variants;
CREATE OR REPLACE TABLE crossmodel_cpp_per_seed AS SELECT * FROM cpp_per_seed;
CREATE OR REPLACE TABLE crossmodel_cpp_shapley AS SELECT * FROM cpp_shapley;

-- `new_fits` is a polars frame registered on the connection by the caller; columns by name,
-- since a database upgraded by ALTER TABLE has `decoding` last.
INSERT INTO smi_fits BY NAME
SELECT $checkpoint_id AS checkpoint_id, $decoding AS decoding, $params AS params, method, slope, intercept, r2, mse, upper_bound, acc,
       n_groups, n_questions, r2_question, x_intercept, weighted_slope, weighted_intercept, weighted_r2_question
FROM new_fits;

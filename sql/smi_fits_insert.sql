-- `new_fits` is a polars frame registered on the connection by the caller.
INSERT INTO smi_fits
SELECT $checkpoint_id, $params, method, slope, intercept, r2, mse, upper_bound, acc, n_groups, n_questions, r2_question,
       x_intercept, weighted_slope, weighted_intercept, weighted_r2_question
FROM new_fits;

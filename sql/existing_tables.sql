-- Names of the tables in the main schema, so optional upstream tables can be detected.
SELECT table_name FROM information_schema.tables WHERE table_schema = 'main';

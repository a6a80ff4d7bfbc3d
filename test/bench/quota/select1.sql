-- The floor of a check: the cheapest query, under the same load as the checks.
SELECT 1;

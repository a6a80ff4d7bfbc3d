-- Catalog integrity: pg_dump keeps admin rows, periods never overlap,
-- shipped rows are read-only, aliases move by date.
BEGIN;
SELECT plan(9);

SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname::text)
             FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
            WHERE e.extname = 'tokenledger' AND c.relname::text LIKE 'price%'),
          ARRAY['price_aliases', 'price_aliases_alias_id_seq', 'price_models', 'price_models_price_model_id_seq',
                'price_reprice_runs', 'price_reprice_runs_run_id_seq', 'prices', 'prices_price_id_seq'],
          'pg_dump keeps the catalog tables, the audit table and their id sequences');
SELECT is((SELECT e.extcondition[array_position(e.extconfig, 'prices'::regclass::oid)]
             FROM pg_extension e WHERE e.extname = 'tokenledger'),
          'WHERE NOT shipped', 'pg_dump keeps only admin price rows (shipped ones come with CREATE EXTENSION)');

SELECT lives_ok($$ SELECT price_alias_set('tapco', 'tap-latest', 'tap-v1', '2025-01-01 00:00+00') $$, 'an alias is set');
SELECT lives_ok($$ SELECT price_alias_set('tapco', 'tap-latest', 'tap-v2', '2025-06-01 00:00+00') $$, 'the alias moves to a new version');
SELECT is((SELECT array_agg(t.model || ' ' || coalesce(to_char(a.valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'open') ORDER BY a.valid_from)
             FROM price_aliases a JOIN price_models al ON al.price_model_id = a.alias_model_id
             JOIN price_models t ON t.price_model_id = a.target_model_id WHERE al.model = 'tap-latest'),
          ARRAY['tap-v1 2025-06-01', 'tap-v2 open'], 'the first mapping is closed where the second starts');
SELECT is((SELECT price_alias_set('tapco', 'tap-latest', 'tap-v2', '2025-06-01 00:00+00')),
          (SELECT max(alias_id) FROM price_aliases), 'price_alias_set is idempotent');
SELECT throws_ok($$ INSERT INTO price_aliases (alias_model_id, target_model_id, valid_from)
                    SELECT al.price_model_id, t.price_model_id, '2025-03-01 00:00+00'
                      FROM price_models al, price_models t WHERE al.model = 'tap-latest' AND t.model = 'tap-v2' $$,
                 '23P01', NULL, 'overlapping alias periods are rejected');
SELECT throws_ok($$ DELETE FROM prices WHERE shipped $$, '42501', NULL, 'shipped price rows cannot be deleted');
SELECT throws_ok($$ UPDATE price_aliases SET valid_to = now() WHERE shipped $$, '42501', NULL, 'shipped aliases cannot be changed');

SELECT * FROM finish();
ROLLBACK;

-- Pricing privileges: apps may price, only admins change prices or reprice.
BEGIN;
SELECT plan(8);

CREATE ROLE tap_price_app LOGIN IN ROLE tokenledger_writer;
CREATE ROLE tap_price_reader LOGIN IN ROLE tokenledger_reader;
CREATE ROLE tap_price_admin LOGIN IN ROLE tokenledger_admin;

SET ROLE tap_price_app;
SELECT is((SELECT total_cost_nano_usd FROM usage_cost('gpt-4o-mini', input_tokens => 1000000, at => '2025-01-01 00:00+00')),
          150000000::bigint, 'a writer may compute a cost (gpt-4o-mini: 1M input tokens at 0.15 USD)');
SELECT throws_ok($$ SELECT price_set('openai', 'gpt-4o-mini', now(), 0, 0) $$, '42501', NULL,
    'a writer cannot change prices');
SELECT throws_ok($$ SELECT * FROM usage_reprice(now() - interval '1 day', now()) $$, '42501', NULL,
    'a writer cannot reprice');
SELECT throws_ok($$ SELECT count(*) FROM prices $$, '42501', NULL, 'a writer cannot read the catalog tables');
RESET ROLE;

SET ROLE tap_price_reader;
SELECT throws_ok($$ INSERT INTO price_models (provider, model) VALUES ('x', 'y') $$, '42501', NULL,
    'a reader cannot edit the catalog');
RESET ROLE;

SET ROLE tap_price_admin;
SELECT lives_ok($$ SELECT price_set('tapco', 'tap-model', '2025-01-01 00:00+00', 1, 2) $$, 'an admin sets a price');
SELECT is((SELECT total_cost_nano_usd FROM usage_cost('tap-model', input_tokens => 1000, output_tokens => 1000, at => '2025-06-01 00:00+00')),
          3000000::bigint, 'the admin''s price applies at once (1000*1 + 1000*2 = 3,000,000 nano-USD)');
SELECT lives_ok($$ SELECT * FROM usage_reprice('2025-01-01 00:00+00', '2025-02-01 00:00+00') $$, 'an admin reprices');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

-- Importer test on the two public catalogs in shared/data (run by
-- test/run_tests.sh only when they are present; psql -v data=<dir>).
-- Costs computed through each imported catalog must agree with the facts
-- table (shared/data/PRICES_FACTS.md): expected values are written as the
-- facts' USD-per-million prices times the tokens used.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
\set litellm_path :data '/litellm_model_prices.json'
\set genai_path :data '/genai_prices.json'
\set litellm `cat :litellm_path`
\set genai `cat :genai_path`

BEGIN;
SELECT plan(32);

CREATE FUNCTION pg_temp.cost(model text, provider text, at timestamptz, tier text DEFAULT 'standard',
    i bigint DEFAULT 0, o bigint DEFAULT 0, cr bigint DEFAULT 0, cw bigint DEFAULT 0,
    cw1h bigint DEFAULT 0, r bigint DEFAULT 0) RETURNS bigint LANGUAGE sql AS $$
    SELECT total_cost_nano_usd FROM usage_cost(model, i, o, cr, cw, cw1h, r, at, provider, tier) $$;

-- LiteLLM (prices in force from the mirror's date, 2026-07-24).
SAVEPOINT litellm;
CREATE TEMP TABLE l1 AS SELECT * FROM price_import_litellm(:'litellm'::jsonb, '2026-07-24 00:00+00');
SELECT is(pg_temp.cost('gpt-4o', 'openai', '2026-08-01', i => 1000000, o => 1000000, cr => 1000000),
          ((2.5 + 10 + 1.25) * 1e9)::bigint, 'LiteLLM gpt-4o: input, output and cache read');
SELECT is(pg_temp.cost('claude-sonnet-4-5-20250929', 'anthropic', '2026-08-01', i => 10000, o => 10000, cr => 10000, cw => 10000, cw1h => 10000),
          ((3 + 15 + 0.3 + 3.75 + 6) * 1e7)::bigint, 'LiteLLM claude-sonnet-4-5: cache read, 5-minute and 1-hour writes');
SELECT is(pg_temp.cost('claude-sonnet-4-5-20250929', 'anthropic', '2026-08-01', i => 300000, o => 1000),
          (300000 * 6 * 1e3 + 1000 * 22.5 * 1e3)::bigint, 'LiteLLM claude-sonnet-4-5: >200k tier');
SELECT is(pg_temp.cost('gemini-2.5-pro', 'google', '2026-08-01', i => 250000, o => 1000),
          (250000 * 2.5 * 1e3 + 1000 * 15 * 1e3)::bigint, 'LiteLLM gemini/gemini-2.5-pro: >200k tier under provider google');
SELECT is(pg_temp.cost('gemini-2.5-flash', 'google', '2026-08-01', r => 1000000),
          (2.5 * 1e9)::bigint, 'LiteLLM gemini-2.5-flash: reasoning price');
SELECT is(pg_temp.cost('deepseek-chat', 'deepseek', '2026-08-01', i => 1000000, o => 1000000, cr => 1000000),
          ((0.28 + 0.42 + 0.028) * 1e9)::bigint, 'LiteLLM deepseek-chat');
SELECT is(pg_temp.cost('o3', 'openai', '2026-08-01', i => 1000000, o => 1000000, cr => 1000000),
          ((2 + 8 + 0.5) * 1e9)::bigint, 'LiteLLM o3 (current price only)');
SELECT is(pg_temp.cost('claude-haiku-4-5-20251001', 'anthropic', '2026-08-01', cw => 1000000, cw1h => 1000000),
          ((1.25 + 2) * 1e9)::bigint, 'LiteLLM claude-haiku-4-5: cache_creation_input_token_cost_above_1hr is the 1-hour write');
SELECT is(pg_temp.cost('gpt-5.5', 'openai', '2026-08-01', i => 300000, o => 1000),
          (300000 * 10 * 1e3 + 1000 * 45 * 1e3)::bigint, 'LiteLLM gpt-5.5: >272k tier');
SELECT is(pg_temp.cost('gpt-4o', 'openai', '2026-08-01', 'batch', i => 1000000, o => 1000000),
          ((1.25 + 5) * 1e9)::bigint, 'LiteLLM gpt-4o: _batches variant');
SELECT is(pg_temp.cost('gpt-5', 'openai', '2026-08-01', 'priority', i => 1000000, o => 1000000),
          ((2.5 + 20) * 1e9)::bigint, 'LiteLLM gpt-5: _priority variant');
SELECT is((SELECT reason FROM l1 WHERE entry = 'sample_spec'), 'not a model entry', 'LiteLLM sample_spec is skipped with its reason');
SELECT is((SELECT count(*)::int FROM price_import_litellm(:'litellm'::jsonb, '2026-07-24 00:00+00') WHERE action IN ('inserted', 'changed')),
          0, 'LiteLLM import is idempotent');
ROLLBACK TO SAVEPOINT litellm;

-- genai-prices v2 (start_date constraints become effective periods).
CREATE TEMP TABLE g1 AS SELECT * FROM price_import_genai_prices(:'genai'::jsonb);
SELECT is(pg_temp.cost('o3', 'openai', '2025-06-01', i => 1000000, o => 1000000), ((10 + 40) * 1e9)::bigint, 'genai o3 before 2025-06-10');
SELECT is(pg_temp.cost('o3', 'openai', '2025-06-11', i => 1000000, o => 1000000, cr => 1000000), ((2 + 8 + 0.5) * 1e9)::bigint, 'genai o3 from 2025-06-10');
SELECT is(pg_temp.cost('claude-sonnet-4-6', 'anthropic', '2026-03-01', i => 300000), (300000 * 6 * 1e3)::bigint, 'genai claude-sonnet-4-6: >200k tier until 2026-03-13');
SELECT is(pg_temp.cost('claude-sonnet-4-6', 'anthropic', '2026-04-01', i => 300000), (300000 * 3 * 1e3)::bigint, 'genai claude-sonnet-4-6: flat from 2026-03-13');
SELECT is(pg_temp.cost('claude-sonnet-5', 'anthropic', '2026-08-25', i => 1000000), (2 * 1e9)::bigint, 'genai claude-sonnet-5 before 2026-09-01');
SELECT is(pg_temp.cost('claude-sonnet-5', 'anthropic', '2026-09-02', i => 1000000), (3 * 1e9)::bigint, 'genai claude-sonnet-5 from 2026-09-01');
SELECT is(pg_temp.cost('gemini-3.6-flash', 'google', '2026-12-31', i => 1000000), (0.75 * 1e9)::bigint, 'genai gemini-3.6-flash before its future date');
SELECT is(pg_temp.cost('gemini-3.6-flash', 'google', '2027-01-01', i => 1000000), (1.5 * 1e9)::bigint, 'genai gemini-3.6-flash from 2027-01-01');
SELECT is(pg_temp.cost('gpt-5.6-terra', 'openai', '2026-07-29', i => 1000, o => 1000, cr => 1000, cw => 1000),
          ((2.5 + 15 + 0.25 + 3.125) * 1e6)::bigint, 'genai gpt-5.6-terra before the 2026-07-30 cut');
SELECT is(pg_temp.cost('gpt-5.6-terra', 'openai', '2026-07-31', i => 1000, o => 1000, cr => 1000, cw => 1000),
          ((2 + 12 + 0.2 + 2.5) * 1e6)::bigint, 'genai gpt-5.6-terra after the cut');
SELECT is(pg_temp.cost('claude-3-5-haiku-latest', 'anthropic', '2026-01-01', cw1h => 1000000), (1.6 * 1e9)::bigint, 'genai claude-3-5-haiku 1-hour write 1.6');
SELECT is(pg_temp.cost('gemini-1.5-pro', 'google', '2026-01-01', i => 200000), (200000 * 2.5 * 1e3)::bigint, 'genai gemini-1.5-pro: >128k tier');
SELECT is(pg_temp.cost('deepseek-chat', 'deepseek', '2026-01-01', i => 1000000, o => 1000000), ((0.135 + 0.55) * 1e9)::bigint, 'genai deepseek-chat default price');
SELECT ok(EXISTS (SELECT 1 FROM g1 WHERE entry = 'deepseek/deepseek-chat' AND action = 'skipped' AND reason LIKE 'time-of-day%'),
          'genai time-of-day prices are skipped with their reason');
SELECT is(pg_temp.cost('claude-opus-4-6', 'anthropic', '2026-03-01', i => 300000), (300000 * 10 * 1e3)::bigint, 'genai claude-opus-4-6: >200k tier until 2026-03-13');
SELECT cmp_ok((SELECT count(*)::int FROM g1 WHERE action = 'inserted'), '>=', 1000, 'genai import inserts the catalog');
SELECT is((SELECT count(*)::int FROM price_import_genai_prices(:'genai'::jsonb) WHERE action IN ('inserted', 'changed')),
          0, 'genai import is idempotent');

-- A catalog of the wrong shape is rejected and writes nothing.
SELECT throws_ok(format('SELECT * FROM price_import_litellm(%L::jsonb, now())', (:'genai'::jsonb) -> 0 -> 'models'),
                 '22023', NULL, 'LiteLLM importer rejects an array (genai-prices'' models list)');
SELECT throws_ok(format('SELECT * FROM price_import_genai_prices(%L::jsonb)', (:'litellm'::jsonb) -> 'gpt-4o'),
                 '22023', NULL, 'genai importer rejects an object (a LiteLLM entry)');

SELECT * FROM finish();
ROLLBACK;

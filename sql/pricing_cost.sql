-- Pricing: golden costs from the shipped catalog, pricing at insert,
-- price_set, repricing and bad input. Every expected figure is worked out
-- by hand in the comment above it (cost nano-USD = tokens x USD/Mtok x 1000).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- The shipped catalog covers at least 60 models from the major providers.
SELECT count(DISTINCT price_model_id) >= 60 AS sixty_models,
       count(DISTINCT m.provider) FILTER (WHERE m.provider IN ('openai', 'anthropic', 'google', 'mistral', 'deepseek', 'xai')) AS major_providers
FROM prices p JOIN price_models m USING (price_model_id);

-- Anthropic cache read and 5-minute and 1-hour cache writes (Sonnet 4.5: 3/15, read 0.3, write 3.75, 1h write 6):
-- input 1000*3 = 3,000,000; output 500*15 = 7,500,000; cache read 20000*0.3 = 6,000,000;
-- cache write 4000*3.75 + 2000*6 = 15,000,000 + 12,000,000 = 27,000,000; total 43,500,000.
SELECT input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd, cache_write_cost_nano_usd,
       reasoning_cost_nano_usd, total_cost_nano_usd, total_cost_usd
FROM usage_cost('claude-sonnet-4-5-20250929', input_tokens => 1000, output_tokens => 500,
                cache_read_tokens => 20000, cache_write_tokens => 4000, cache_write_1h_tokens => 2000,
                at => '2025-10-15 12:00+00', provider => 'anthropic');

-- OpenAI cached input: gpt-4o (alias of gpt-4o-2024-08-06 in 2025; 2.5/10, cached 1.25).
-- 800 uncached * 2.5 = 2,000,000; 1200 cached * 1.25 = 1,500,000; 300 out * 10 = 3,000,000; total 6,500,000.
-- Cached tokens are billed once, at the cache rate, never again as input.
SELECT input_cost_nano_usd, cache_read_cost_nano_usd, output_cost_nano_usd, total_cost_nano_usd
FROM usage_cost('gpt-4o', input_tokens => 800, cache_read_tokens => 1200, output_tokens => 300,
                at => '2025-01-15 12:00+00', provider => 'openai');

-- Reasoning tokens at the output price when the catalog has no reasoning price (o4-mini 1.1/4.4):
-- 100 visible * 4.4 = 440,000; 900 reasoning * 4.4 = 3,960,000; total 4,400,000.
SELECT output_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd
FROM usage_cost('o4-mini', output_tokens => 100, reasoning_tokens => 900, at => '2025-07-01 00:00+00');

-- Context tier (Gemini 2.5 Pro, 1.25/10, above 200,000 input tokens 2.5/15/cache read 0.25), a cliff:
-- 199,999 in: 199999*1.25 = 249,998,750 + 1000*10 = 10,000,000 -> 259,998,750
-- 200,000 in (at the threshold, not above): 250,000,000 + 10,000,000 -> 260,000,000
-- 200,001 in: every token at the tier rate: 200001*2.5 = 500,002,500 + 1000*15 = 15,000,000 -> 515,002,500
-- 150,000 in + 50,001 cached (cached tokens count toward the threshold):
--   150000*2.5 = 375,000,000 + 50001*0.25 = 12,500,250 + 15,000,000 -> 402,500,250
SELECT t.label, c.input_cost_nano_usd, c.cache_read_cost_nano_usd, c.output_cost_nano_usd, c.total_cost_nano_usd
FROM (VALUES ('below', 199999, 0), ('at', 200000, 0), ('above', 200001, 0), ('above with cache', 150000, 50001))
     AS t(label, input_tokens, cached),
     LATERAL usage_cost('gemini-2.5-pro', input_tokens => t.input_tokens, cache_read_tokens => t.cached,
                        output_tokens => 1000, at => '2025-08-01 00:00+00', provider => 'google') c;

-- A price change mid-month (o3: 10/40 until 2025-06-10, 2/8 from then):
-- 1000 in + 1000 out: before 10,000,000 + 40,000,000 = 50,000,000; after 2,000,000 + 8,000,000 = 10,000,000.
SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS utc_time, c.total_cost_nano_usd, p.input_usd_per_mtok, p.output_usd_per_mtok
FROM (VALUES ('2025-06-09 23:59:59+00'::timestamptz), ('2025-06-10 00:00:00+00'), ('2025-06-20 00:00:00+00')) AS t(at),
     LATERAL usage_cost('o3', input_tokens => 1000, output_tokens => 1000, at => t.at, provider => 'openai') c
JOIN prices p ON p.price_id = c.price_id
ORDER BY t.at;

-- Events recorded before and after the change carry different prices.
SELECT usage_log_insert('alice', 'o3', input_tokens => 1000, output_tokens => 1000, provider => 'openai',
                        occurred_at => '2025-06-05 10:00+00') IS NOT NULL AS recorded;
SELECT usage_log_insert('alice', 'o3', input_tokens => 1000, output_tokens => 1000, provider => 'openai',
                        occurred_at => '2025-06-25 10:00+00') IS NOT NULL AS recorded;
SELECT occurred_at < '2025-06-10 00:00+00' AS before_cut, input_cost_usd, output_cost_usd, total_cost_usd, priced,
       price_id = (SELECT c.price_id FROM usage_cost('o3', at => e.occurred_at, provider => 'openai') c) AS price_row_stored
FROM usage_events e WHERE model = 'o3' ORDER BY occurred_at;

-- A future-dated price (Gemini 3.6 Flash 0.75 -> 1.5 from 2027-01-01): 1,000,000 input tokens
-- cost 750,000,000 on 2026-12-31 and 1,500,000,000 from 2027-01-01.
SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS utc_time, c.input_cost_nano_usd
FROM (VALUES ('2026-12-31 23:00+00'::timestamptz), ('2027-01-01 00:00+00')) AS t(at),
     LATERAL usage_cost('gemini-3.6-flash', input_tokens => 1000000, at => t.at) c ORDER BY 1;

-- Alias resolution by date: claude-3-5-sonnet-latest moved from 20240620 to 20241022;
-- mistral-large-latest moved from Large 2 (2/6) to Large 3 (0.5/1.5).
SELECT c.model AS asked, to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS utc_time, m.model AS priced_as, r.total_cost_nano_usd
FROM (VALUES ('claude-3-5-sonnet-latest'), ('mistral-large-latest')) AS c(model),
     (VALUES ('2024-12-01 00:00+00'::timestamptz), ('2026-01-15 00:00+00')) AS t(at),
     LATERAL usage_cost(c.model, input_tokens => 1000000, at => t.at) r
JOIN prices p ON p.price_id = r.price_id
JOIN price_models m ON m.price_model_id = p.price_model_id
ORDER BY 1, 2;
SELECT m.model AS priced_as, r.total_cost_nano_usd
FROM usage_cost('claude-3-5-sonnet-latest', input_tokens => 1000000, at => '2024-08-01 00:00+00') r
JOIN prices p ON p.price_id = r.price_id JOIN price_models m ON m.price_model_id = p.price_model_id;

-- Provider prefixes and date suffixes resolve to the catalog entry.
SELECT t.model, m.provider, m.model AS priced_as
FROM (VALUES ('openai/gpt-4.1-2025-04-14'), ('gpt-4.1-20250414'), ('anthropic/claude-haiku-4-5'),
             ('GPT-4o-mini')) AS t(model),
     LATERAL usage_cost(t.model, input_tokens => 1, at => '2025-11-01 00:00+00') r
JOIN prices p ON p.price_id = r.price_id JOIN price_models m ON m.price_model_id = p.price_model_id
ORDER BY 1;

-- Batch tier (Claude Haiku 4.5, 1/5 standard, half in batch): 1M in + 1M out
-- cost 6,000,000,000 standard and 3,000,000,000 batch; an unknown tier is an error.
SELECT t.tier, c.total_cost_nano_usd
FROM (VALUES ('standard'), ('batch')) AS t(tier),
     LATERAL usage_cost('claude-haiku-4-5', input_tokens => 1000000, output_tokens => 1000000,
                        at => '2025-11-01 00:00+00', service_tier => t.tier) c ORDER BY 2 DESC;
SELECT usage_cost('claude-haiku-4-5', at => '2025-11-01 00:00+00', service_tier => 'turbo');
-- A model without a price for the tier asked is unpriced, never priced at another tier.
SELECT total_cost_nano_usd IS NULL AS unpriced
FROM usage_cost('gpt-4.1', input_tokens => 10, at => '2025-11-01 00:00+00', service_tier => 'flex');

-- An unknown model: usage_cost is all NULL, the event is stored unpriced and listed.
SELECT total_cost_nano_usd, price_id FROM usage_cost('acme-llm-9', input_tokens => 10);
SELECT usage_log_insert('bob', 'acme-llm-9', input_tokens => 100, output_tokens => 20, provider => 'acme') IS NOT NULL AS recorded;
SELECT usage_log_insert('bob', 'acme-llm-9', input_tokens => 5, provider => 'acme') IS NOT NULL AS recorded;
SELECT priced, total_cost_usd, price_id FROM usage_events WHERE model = 'acme-llm-9';
SELECT model, provider, events, total_tokens FROM usage_unpriced_models;

-- Rounding: each bucket is rounded half away from zero, the total is the sum of the
-- rounded buckets. 1 token at 0.0005 USD/Mtok = 0.5 nano-USD -> 1; 3 tokens -> 1.5 -> 2.
SELECT price_set('acme', 'acme-llm-9', '2020-01-01 00:00+00', 0.0005, 0.0005) > 0 AS price_set;
SELECT input_cost_nano_usd, output_cost_nano_usd, total_cost_nano_usd
FROM usage_cost('acme-llm-9', input_tokens => 1, output_tokens => 3);

-- price_set is idempotent and closes the previous period; the cache sees the change at once.
SELECT price_set('acme', 'acme-llm-9', '2025-01-01 00:00+00', 2, 8) AS first_id \gset
SELECT price_set('acme', 'acme-llm-9', '2025-01-01 00:00+00', 2, 8) = :first_id AS same_row;
SELECT to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_from, to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_to, input_usd_per_mtok, output_usd_per_mtok
FROM prices WHERE price_model_id = (SELECT price_model_id FROM price_models WHERE model = 'acme-llm-9')
ORDER BY valid_from;
-- 100 in * 2 = 200,000; 20 out * 8 = 160,000.
SELECT total_cost_nano_usd FROM usage_cost('acme-llm-9', input_tokens => 100, output_tokens => 20, provider => 'acme');
-- A price set between two dated rows ends where the next one starts.
SELECT price_set('acme', 'acme-llm-9', '2022-01-01 00:00+00', 1, 4) > 0 AS price_set;
SELECT to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_from, to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_to, input_usd_per_mtok
FROM prices WHERE price_model_id = (SELECT price_model_id FROM price_models WHERE model = 'acme-llm-9')
ORDER BY valid_from;

-- An admin price overrides the shipped one from its date on; the shipped row stays untouched.
SELECT price_set('openai', 'gpt-4.1', '2025-09-01 00:00+00', 1, 4, 0.25) > 0 AS overridden;
SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS utc_day, c.total_cost_nano_usd
FROM (VALUES ('2025-08-31 00:00+00'::timestamptz), ('2025-09-01 00:00+00')) AS t(at),
     LATERAL usage_cost('gpt-4.1', input_tokens => 1000000, at => t.at, provider => 'openai') c ORDER BY 1;

-- usage_reprice: a corrected price applied to history. The acme events were unpriced
-- (NULL): 100 in + 20 out -> 360,000 and 5 in -> 10,000 at 2/8, delta 370,000 nano-USD.
-- They are rolled up first, so the rollups receive the per-event deltas through the
-- reprice hook and must still agree with the ledger afterwards.
CALL usage_rollup();
SELECT * FROM usage_reprice(now() - interval '1 hour', now() + interval '1 hour');
SELECT (SELECT sum(total_cost_nano_usd) FROM usage_rollup_hourly) = (SELECT sum(coalesce(total_cost_nano_usd, 0)) FROM usage_log)
       AS hourly_rollup_matches_ledger,
       (SELECT sum(total_cost_nano_usd) FROM usage_rollup_daily) = (SELECT sum(coalesce(total_cost_nano_usd, 0)) FROM usage_log)
       AS daily_rollup_matches_ledger;
SELECT priced, total_cost_usd FROM usage_events WHERE model = 'acme-llm-9' ORDER BY total_cost_usd;
SELECT count(*) AS unpriced_models_left FROM usage_unpriced_models;
-- Running it again changes nothing; both runs are audited.
SELECT * FROM usage_reprice(now() - interval '1 hour', now() + interval '1 hour');
SELECT run_by = session_user AS by_me, events_changed, cost_delta_nano_usd FROM price_reprice_runs ORDER BY run_id;
-- Events outside the range keep their cost even when the catalog changed.
SELECT price_set('openai', 'o3', '2025-06-10 00:00+00', 3, 12) > 0 AS price_set;
SELECT events_changed, cost_delta_nano_usd FROM usage_reprice('2025-06-01 00:00+00', '2025-06-10 00:00+00');
-- o3 event of 2025-06-25 repriced at 3/12: 3,000,000 + 12,000,000 - 10,000,000 = +5,000,000.
SELECT events_changed, cost_delta_nano_usd FROM usage_reprice('2025-06-10 00:00+00', '2025-07-01 00:00+00');
SELECT (SELECT sum(total_cost_nano_usd) FROM usage_rollup_daily) = (SELECT sum(coalesce(total_cost_nano_usd, 0)) FROM usage_log)
       AS rollup_still_matches_ledger;
-- tokenledger.price_at_insert = off (bulk backfills) stores events unpriced;
-- usage_reprice prices them later: 1,000,000 gpt-4o-mini input tokens at 0.15 = 150,000,000.
SET tokenledger.price_at_insert = off;
SELECT usage_log_insert('carol', 'gpt-4o-mini', input_tokens => 1000000, occurred_at => '2025-03-01 00:00+00') IS NOT NULL AS recorded;
RESET tokenledger.price_at_insert;
SELECT priced FROM usage_events WHERE user_id = 'carol';
SELECT events_changed, cost_delta_nano_usd FROM usage_reprice('2025-03-01 00:00+00', '2025-03-02 00:00+00');
SELECT priced, total_cost_usd FROM usage_events WHERE user_id = 'carol';

-- Bad input: a clear error, nothing written.
SELECT count(*) AS prices_before FROM prices \gset
SELECT price_set('acme', 'acme-llm-9', '2026-01-01 00:00+00', -1, 8);
SELECT price_set('acme', 'acme-llm-9', '2026-01-01 00:00+00', 1, 8, tier_input_usd_per_mtok => 2, tier_output_usd_per_mtok => 9);
SELECT price_set('acme', 'acme-llm-9', '2026-01-01 00:00+00', 1, 8, tier_threshold_tokens => 1000);
SELECT price_set('acme', 'acme-llm-9', '2026-01-01 00:00+00', 1, 8, service_tier => 'turbo');
SELECT price_set('acme', '', '2026-01-01 00:00+00', 1, 8);
SELECT price_set('acme', 'acme-llm-9', '2026-01-01 00:00+00', 0.0000000001, 8);
\set VERBOSITY terse
INSERT INTO prices (price_model_id, valid_from, valid_to, input_usd_per_mtok, output_usd_per_mtok)
SELECT price_model_id, '2024-06-01 00:00+00', '2025-06-01 00:00+00', 1, 1 FROM price_models WHERE model = 'acme-llm-9';
\set VERBOSITY default
INSERT INTO prices (price_model_id, valid_from, input_usd_per_mtok, output_usd_per_mtok, tier_input_usd_per_mtok, tier_output_usd_per_mtok)
SELECT price_model_id, '2030-01-01 00:00+00', 1, 1, 2, 2 FROM price_models WHERE model = 'acme-llm-9';
UPDATE prices SET input_usd_per_mtok = 0 WHERE shipped AND price_id = 1;
SELECT count(*) = :prices_before AS nothing_written FROM prices;
SELECT usage_cost('o3', input_tokens => -1);
SELECT usage_cost(NULL);
SELECT * FROM usage_reprice('2025-07-01', '2025-06-01');

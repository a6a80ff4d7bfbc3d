-- Importers on small inline catalogs: field mapping, tiers, skips with
-- reasons, idempotency, and malformed catalogs rejected without writes.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- LiteLLM: USD per token; tiers _above_Nk_tokens; service-tier suffixes.
SELECT entry, provider, model, service_tier, action, reason
FROM price_import_litellm('{
  "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
  "acme/acme-pro": {"litellm_provider": "acme", "mode": "chat",
      "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
      "cache_read_input_token_cost": 2e-07, "cache_creation_input_token_cost": 2.5e-06,
      "cache_creation_input_token_cost_above_1hr": 4e-06,
      "input_cost_per_token_above_128k_tokens": 4e-06, "output_cost_per_token_above_128k_tokens": 1.2e-05,
      "input_cost_per_token_batches": 1e-06, "output_cost_per_token_batches": 4e-06},
  "acme-image": {"litellm_provider": "acme", "mode": "image_generation", "output_cost_per_image": 0.04},
  "acme/acme-bad": {"litellm_provider": "acme", "input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}
}'::jsonb, '2026-01-01 00:00+00') ORDER BY entry, service_tier;

-- 1000 in + 1000 out + 1000 cached + 1000 5m writes + 1000 1h writes (5,000 input tokens, below 128k):
-- 2*1000 + 8*1000 + 0.2*1000 + 2.5*1000 + 4*1000 = 16.7 * 1000 -> 16,700,000 nano-USD.
SELECT total_cost_nano_usd FROM usage_cost('acme-pro', 1000, 1000, 1000, 1000, 1000, 0, '2026-02-01 00:00+00', 'acme');
-- Above 128k: 200,000 in * 4 = 800,000,000; 1000 out * 12 = 12,000,000.
SELECT total_cost_nano_usd FROM usage_cost('acme-pro', 200000, 1000, at => '2026-02-01 00:00+00', provider => 'acme');
-- Batch: 1000 in * 1 + 1000 out * 4 = 5,000,000.
SELECT total_cost_nano_usd FROM usage_cost('acme-pro', 1000, 1000, at => '2026-02-01 00:00+00', provider => 'acme', service_tier => 'batch');
-- Before effective_from the model has no price.
SELECT total_cost_nano_usd IS NULL AS unpriced FROM usage_cost('acme-pro', 1000, at => '2025-12-31 00:00+00', provider => 'acme');
-- Idempotent: the same catalog again changes nothing.
SELECT action, count(*) FROM price_import_litellm('{"acme/acme-pro": {"litellm_provider": "acme",
      "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
      "cache_read_input_token_cost": 2e-07, "cache_creation_input_token_cost": 2.5e-06,
      "cache_creation_input_token_cost_above_1hr": 4e-06,
      "input_cost_per_token_above_128k_tokens": 4e-06, "output_cost_per_token_above_128k_tokens": 1.2e-05,
      "input_cost_per_token_batches": 1e-06, "output_cost_per_token_batches": 4e-06}}'::jsonb,
      '2026-01-01 00:00+00') GROUP BY 1;
-- A new price from a later date closes the previous period.
SELECT action FROM price_import_litellm('{"acme/acme-pro": {"litellm_provider": "acme",
      "input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06}}'::jsonb, '2026-03-01 00:00+00');
SELECT to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_from,
       to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_to, input_usd_per_mtok, source
FROM prices p JOIN price_models m USING (price_model_id)
WHERE m.model = 'acme-pro' AND p.service_tier = 's' ORDER BY p.valid_from;

-- genai-prices v2: per-million prices, {base, tiers}, start_date history.
SELECT entry, provider, model, action, reason
FROM price_import_genai_prices('[{"id": "x-ai", "models": [
   {"id": "grok-acme", "prices": [
       {"prices": {"input_mtok": {"base": 3, "tiers": [{"start": 128000, "price": 6}]},
                   "output_mtok": {"base": 15, "tiers": [{"start": 128000, "price": 30}]},
                   "cache_read_mtok": 0.75}},
       {"constraint": {"start_date": "2026-05-01"}, "prices": {"input_mtok": 2, "output_mtok": 10}},
       {"constraint": {"start_time": "00:30:00Z", "end_time": "08:30:00Z"}, "prices": {"input_mtok": 1, "output_mtok": 5}}]},
   {"id": "grok-embed", "prices": {"input_mtok": 0.1}}]}]'::jsonb);
-- xAI's "x-ai" is stored as provider xai. Before 2026-05-01: 200,000 in (above 128k, cached counted)
-- at 6 = 1,200,000,000; after: 200,000 * 2 = 400,000,000.
SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, c.total_cost_nano_usd
FROM (VALUES ('2026-04-30 00:00+00'::timestamptz), ('2026-05-01 00:00+00')) AS t(at),
     LATERAL usage_cost('grok-acme', 200000, at => t.at, provider => 'xai') c ORDER BY 1;

-- Malformed catalogs: a clear error and nothing written.
SELECT count(*) AS prices_before FROM prices \gset
SELECT * FROM price_import_litellm('[1, 2]'::jsonb, '2026-01-01 00:00+00');
SELECT * FROM price_import_litellm('{}'::jsonb, NULL);
SELECT * FROM price_import_genai_prices('{"id": "openai"}'::jsonb);
SELECT * FROM price_import_genai_prices('[{"id": "openai", "models": [{"id": "gpt-x", "prices": {"input_mtok": 1, "output_mtok": 2}}]}, {"name": "no id"}]'::jsonb);
SELECT count(*) = :prices_before AS nothing_written FROM prices;

-- Readable views over the ledger. security_invoker (PostgreSQL 15+) makes the
-- ledger's row-level security apply to whoever queries the view.

CREATE VIEW @extschema@.usage_events WITH (security_invoker = true) AS
SELECT l.event_id,
       l.occurred_at,
       l.user_id,
       p.name AS provider,
       m.name AS model,
       e.name AS endpoint,
       t.name AS request_type,
       CASE l.service_tier WHEN 's' THEN 'standard' WHEN 'b' THEN 'batch'
                           WHEN 'f' THEN 'flex' WHEN 'p' THEN 'priority' END AS service_tier,
       l.session_id,
       l.message_id,
       l.request_id,
       l.success,
       l.error_type,
       l.latency_ms,
       l.input_tokens,
       l.cache_read_tokens,
       l.cache_write_tokens,
       l.cache_write_1h_tokens,
       l.output_tokens,
       l.reasoning_tokens,
       l.total_tokens,
       l.input_cost_nano_usd / 1e9::numeric       AS input_cost_usd,
       l.output_cost_nano_usd / 1e9::numeric      AS output_cost_usd,
       l.cache_read_cost_nano_usd / 1e9::numeric  AS cache_read_cost_usd,
       l.cache_write_cost_nano_usd / 1e9::numeric AS cache_write_cost_usd,
       l.reasoning_cost_nano_usd / 1e9::numeric   AS reasoning_cost_usd,
       l.total_cost_nano_usd / 1e9::numeric       AS total_cost_usd,
       l.total_cost_nano_usd IS NOT NULL          AS priced,
       l.price_id,
       l.metadata
FROM @extschema@.usage_log l
JOIN @extschema@.usage_models m ON m.model_id = l.model_id
JOIN @extschema@.usage_request_types t ON t.request_type_id = l.request_type_id
LEFT JOIN @extschema@.usage_providers p ON p.provider_id = l.provider_id
LEFT JOIN @extschema@.usage_endpoints e ON e.endpoint_id = l.endpoint_id;

COMMENT ON VIEW @extschema@.usage_events IS
'The ledger with names instead of keys and costs in USD (numeric, exact); readers see only their own rows';
GRANT SELECT ON @extschema@.usage_events TO tokenledger_reader, tokenledger_admin;

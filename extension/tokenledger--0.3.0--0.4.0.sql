-- tokenledger 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.4.0'" to load this file. \quit

-- usage_reprice waits for insert transactions in flight before it scans:
-- an event priced before the reprice began but committed after its scan
-- kept the old price.
CREATE OR REPLACE FUNCTION @extschema@.usage_reprice(range_from timestamptz, range_to timestamptz,
    OUT events_changed bigint, OUT cost_delta_nano_usd bigint, OUT cost_delta_usd numeric)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_schema text;
    v_hook   text;
BEGIN
    IF range_from IS NULL OR range_to IS NULL OR NOT range_from < range_to THEN
        RAISE EXCEPTION 'usage_reprice needs a range with range_from before range_to'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass e.g. usage_reprice(''2025-06-01'', ''2025-07-01''); the end is exclusive.';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tokenledger'), 1);
    PERFORM @extschema@.usage_rollup_wait_for_writers();
    SELECT n.nspname INTO v_schema FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'tokenledger';

    CREATE TEMP TABLE tokenledger_reprice_work ON COMMIT DROP AS
    SELECT l.event_id, l.occurred_at, l.user_id, l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_cost_nano_usd AS old_input, l.output_cost_nano_usd AS old_output,
           l.cache_read_cost_nano_usd AS old_cache_read, l.cache_write_cost_nano_usd AS old_cache_write,
           l.reasoning_cost_nano_usd AS old_reasoning, l.total_cost_nano_usd AS old_total,
           c.input_cost_nano_usd AS new_input, c.output_cost_nano_usd AS new_output,
           c.cache_read_cost_nano_usd AS new_cache_read, c.cache_write_cost_nano_usd AS new_cache_write,
           c.reasoning_cost_nano_usd AS new_reasoning, c.total_cost_nano_usd AS new_total,
           c.price_id AS new_price_id
      FROM @extschema@.usage_log l
      JOIN @extschema@.usage_models m ON m.model_id = l.model_id
      LEFT JOIN @extschema@.usage_providers p ON p.provider_id = l.provider_id
      CROSS JOIN LATERAL @extschema@.usage_cost_internal(m.name, l.input_tokens, l.output_tokens, l.cache_read_tokens,
               l.cache_write_tokens, l.cache_write_1h_tokens, l.reasoning_tokens, l.occurred_at, p.name,
               CASE l.service_tier WHEN 'b' THEN 'batch' WHEN 'f' THEN 'flex' WHEN 'p' THEN 'priority'
                                   ELSE 'standard' END) c
     WHERE l.occurred_at >= usage_reprice.range_from AND l.occurred_at < usage_reprice.range_to
       AND (l.input_cost_nano_usd, l.output_cost_nano_usd, l.cache_read_cost_nano_usd,
            l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd, l.price_id)
           IS DISTINCT FROM
           (c.input_cost_nano_usd, c.output_cost_nano_usd, c.cache_read_cost_nano_usd,
            c.cache_write_cost_nano_usd, c.reasoning_cost_nano_usd, c.total_cost_nano_usd, c.price_id);

    UPDATE @extschema@.usage_log l SET
           input_cost_nano_usd = w.new_input, output_cost_nano_usd = w.new_output,
           cache_read_cost_nano_usd = w.new_cache_read, cache_write_cost_nano_usd = w.new_cache_write,
           reasoning_cost_nano_usd = w.new_reasoning, total_cost_nano_usd = w.new_total,
           price_id = w.new_price_id
      FROM pg_temp.tokenledger_reprice_work w
     WHERE l.event_id = w.event_id AND l.occurred_at = w.occurred_at
       AND l.occurred_at >= usage_reprice.range_from AND l.occurred_at < usage_reprice.range_to;

    CREATE TEMP TABLE tokenledger_cost_deltas (
        event_id bigint, occurred_at timestamptz, user_id text, provider_id smallint, model_id integer,
        endpoint_id integer, success boolean, input_cost_nano_usd bigint, output_cost_nano_usd bigint,
        cache_read_cost_nano_usd bigint, cache_write_cost_nano_usd bigint, reasoning_cost_nano_usd bigint,
        total_cost_nano_usd bigint) ON COMMIT DROP;
    INSERT INTO pg_temp.tokenledger_cost_deltas
    SELECT w.event_id, w.occurred_at, w.user_id, w.provider_id, w.model_id, w.endpoint_id, w.success,
           coalesce(w.new_input, 0) - coalesce(w.old_input, 0),
           coalesce(w.new_output, 0) - coalesce(w.old_output, 0),
           coalesce(w.new_cache_read, 0) - coalesce(w.old_cache_read, 0),
           coalesce(w.new_cache_write, 0) - coalesce(w.old_cache_write, 0),
           coalesce(w.new_reasoning, 0) - coalesce(w.old_reasoning, 0),
           coalesce(w.new_total, 0) - coalesce(w.old_total, 0)
      FROM pg_temp.tokenledger_reprice_work w;
    DROP TABLE pg_temp.tokenledger_reprice_work;

    SELECT count(*), coalesce(sum(d.total_cost_nano_usd), 0)::bigint
      INTO events_changed, cost_delta_nano_usd
      FROM pg_temp.tokenledger_cost_deltas d;

    FOREACH v_hook IN ARRAY ARRAY['usage_rollup_apply_cost_deltas', 'quota_apply_cost_deltas'] LOOP
        IF pg_catalog.to_regprocedure(pg_catalog.format('%I.%I()', v_schema, v_hook)) IS NOT NULL THEN
            EXECUTE pg_catalog.format('SELECT %I.%I()', v_schema, v_hook);
        END IF;
    END LOOP;
    DROP TABLE pg_temp.tokenledger_cost_deltas;

    INSERT INTO @extschema@.price_reprice_runs (range_from, range_to, events_changed, cost_delta_nano_usd)
    VALUES (usage_reprice.range_from, usage_reprice.range_to, events_changed, cost_delta_nano_usd);
    cost_delta_usd := pg_catalog.round(cost_delta_nano_usd / 1000000000::numeric, 9);
END
$fn$;

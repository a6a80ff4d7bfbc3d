-- usage_log_insert_batch: many events in one statement, each validated,
-- priced and deduplicated exactly like usage_log_insert; all or nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- Runs a statement that must fail and shows what the user sees.
CREATE FUNCTION pg_temp.fails(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || E'\n       hint: ' || hint;
END $$;
-- What the ledger holds, for "nothing half-written" checks.
CREATE FUNCTION pg_temp.ledger_state() RETURNS text LANGUAGE sql AS $$
    SELECT format('rows=%s request_ids=%s models=%s providers=%s endpoints=%s',
                  (SELECT count(*) FROM usage_log), (SELECT count(*) FROM usage_request_ids),
                  (SELECT count(*) FROM usage_models), (SELECT count(*) FROM usage_providers),
                  (SELECT count(*) FROM usage_endpoints))
$$;

-- Ids come back in input order; omitted arrays take usage_log_insert's defaults.
SELECT usage_log_insert_batch(
    user_id       => ARRAY['alice', 'bob', 'carol'],
    model         => ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5'],
    provider      => ARRAY['openai', 'openai', 'anthropic'],
    input_tokens  => ARRAY[1200, 300, 5000],
    output_tokens => ARRAY[300, 40, 800],
    cache_read_tokens => ARRAY[0, 100, 2000],
    request_id    => ARRAY['b-1', 'b-2', NULL],
    occurred_at   => ARRAY['2025-03-01 10:00+00', '2025-03-01 10:01+00', NULL]::timestamptz[],
    metadata      => ARRAY['{"team": "search"}', NULL, NULL]::jsonb[]
) AS ids;
SELECT event_id, user_id, request_id, input_tokens, output_tokens, cache_read_tokens, total_tokens,
       request_type_id, success, service_tier, metadata,
       occurred_at > now() - interval '1 hour' AS stamped_now, total_cost_nano_usd IS NOT NULL AS priced
  FROM usage_log ORDER BY event_id;

-- Pricing, totals and every stored column equal what usage_log_insert writes.
SELECT usage_log_insert('single', 'gpt-4o', input_tokens => 1000, output_tokens => 200, cache_read_tokens => 300,
                        reasoning_tokens => 50, provider => 'openai', endpoint => 'chat', session_id => 's1',
                        latency_ms => 420, occurred_at => '2025-03-02 09:00+00', service_tier => 'batch')
     + 0 AS single_id \gset
SELECT cardinality(usage_log_insert_batch(ARRAY['batched'], ARRAY['gpt-4o'], input_tokens => ARRAY[1000],
        output_tokens => ARRAY[200], cache_read_tokens => ARRAY[300], reasoning_tokens => ARRAY[50],
        provider => ARRAY['openai'], endpoint => ARRAY['chat'], session_id => ARRAY['s1'],
        latency_ms => ARRAY[420], occurred_at => ARRAY['2025-03-02 09:00+00'::timestamptz],
        service_tier => ARRAY['batch'])) AS recorded;
-- (every column but the ids, compared both ways)
CREATE TEMP VIEW both_paths AS
    SELECT user_id, to_jsonb(l) - '{event_id,user_id,request_id}'::text[] AS stored
      FROM usage_log l WHERE user_id IN ('single', 'batched');
SELECT (SELECT count(*) FROM both_paths) AS compared_rows, count(*) AS differing_rows FROM (
    (SELECT stored FROM both_paths WHERE user_id = 'single' EXCEPT SELECT stored FROM both_paths WHERE user_id = 'batched')
    UNION ALL
    (SELECT stored FROM both_paths WHERE user_id = 'batched' EXCEPT SELECT stored FROM both_paths WHERE user_id = 'single')) d;
SELECT total_cost_nano_usd, price_id IS NOT NULL AS priced FROM usage_log WHERE user_id = 'batched';

-- A request id repeated within the batch records once; both get its id.
SELECT usage_log_insert_batch(ARRAY['dave', 'dave', 'dave'], ARRAY['gpt-4o', 'gpt-4o', 'gpt-4o'],
                              input_tokens => ARRAY[10, 99, 20], request_id => ARRAY['d-1', 'd-1', 'd-2']) AS ids;
SELECT request_id, input_tokens FROM usage_log WHERE user_id = 'dave' ORDER BY event_id;

-- A retried batch records nothing new and returns the original ids.
SELECT pg_temp.ledger_state() AS before_retry;
SELECT usage_log_insert_batch(
    user_id => ARRAY['alice', 'bob'], model => ARRAY['gpt-4o', 'gpt-4o-mini'],
    input_tokens => ARRAY[1200, 300], request_id => ARRAY['b-1', 'b-2']) AS retried_ids;
SELECT pg_temp.ledger_state() AS after_retry;
-- Partly seen: the known ids return their event, the new ones record.
SELECT usage_log_insert_batch(ARRAY['erin', 'erin', 'erin'], ARRAY['gpt-4o', 'gpt-4o', 'gpt-4o'],
                              request_id => ARRAY['d-2', 'e-1', 'b-1']) AS ids;
SELECT user_id, count(*) FROM usage_log WHERE user_id IN ('erin', 'dave', 'alice') GROUP BY 1 ORDER BY 1;
-- A request id recorded by usage_log_insert is deduplicated too, and the other way round.
SELECT usage_log_insert('frank', 'gpt-4o', request_id => 'f-1') AS single_id;
SELECT usage_log_insert_batch(ARRAY['frank'], ARRAY['gpt-4o'], request_id => ARRAY['f-1']) AS batch_ids;
SELECT usage_log_insert('erin', 'gpt-4o', request_id => 'e-1') AS single_id_of_batched_event;

-- Edge cases: an empty batch; the kill switch returns a NULL id per event.
SELECT usage_log_insert_batch(ARRAY[]::text[], ARRAY[]::text[]) AS empty;
SET tokenledger.enabled = off;
SELECT usage_log_insert_batch(ARRAY['off', 'off'], ARRAY['gpt-4o', 'gpt-4o']) AS disabled;
RESET tokenledger.enabled;
SELECT count(*) AS rows_while_disabled FROM usage_log WHERE user_id = 'off';

-- Bad input: the error of usage_log_insert, naming the element; nothing written.
SELECT pg_temp.ledger_state() AS before_errors;
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g', 'g'], ARRAY['brand-new-model', 'gpt-4o', 'gpt-4o'],
    provider => ARRAY['brand-new-provider', NULL, NULL], input_tokens => ARRAY[1, -5, 1], request_id => ARRAY['g-1', 'g-2', 'g-3'])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', NULL], ARRAY['gpt-4o', 'gpt-4o'])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o', ''])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g'], ARRAY['gpt-4o'], request_type => ARRAY['telepathy'])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o', 'gpt-4o'], occurred_at => ARRAY[now(), '2999-01-01']::timestamptz[])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o', 'gpt-4o'], metadata => ARRAY['{}', '[1]']::jsonb[])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o', 'gpt-4o'], request_id => ARRAY['g-9', ''])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o'])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['g', 'g'], ARRAY['gpt-4o', 'gpt-4o'], latency_ms => ARRAY[1, 2, 3])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY[['g'], ['g']], ARRAY['gpt-4o', 'gpt-4o'])$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(NULL, ARRAY['gpt-4o'])$$);
-- Too large to prepare in memory at once: refused up front, asking to split it.
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(array_fill('g'::text, ARRAY[4000000]),
                                                    array_fill('gpt-4o'::text, ARRAY[4000000]))$$);
SELECT pg_temp.ledger_state() AS after_errors;

-- Quotas: an element's reservation_id settles that hold, as with usage_log_insert.
SELECT reservation_id AS hold FROM quota_reserve('hank', est_tokens => 500) \gset
SELECT count(*) AS holds_before FROM quota_reservations WHERE user_id = 'hank';
SELECT cardinality(usage_log_insert_batch(ARRAY['hank', 'hank'], ARRAY['gpt-4o', 'gpt-4o'],
       input_tokens => ARRAY[100, 5], reservation_id => ARRAY[:hold, NULL])) AS recorded;
SELECT count(*) AS holds_after FROM quota_reservations WHERE user_id = 'hank';
SELECT reservation_id AS hold2 FROM quota_reserve('hank', est_tokens => 500) \gset
SELECT pg_temp.fails(format($$SELECT usage_log_insert_batch(ARRAY['hank', 'ivan'], ARRAY['gpt-4o', 'gpt-4o'], reservation_id => ARRAY[NULL, %s])$$, :hold2));

-- Quota counters: every row a batch wrote counts once in each grain (never a
-- deduplicated element), exactly as usage_log_insert counts it.
SELECT g.grain, count(*) AS users_compared, count(*) FILTER (WHERE l.n IS DISTINCT FROM g.requests
           OR l.tokens IS DISTINCT FROM g.tokens OR l.cost IS DISTINCT FROM g.cost) AS users_differing
  FROM (SELECT user_id, grain, sum(requests) AS requests, sum(tokens) AS tokens, sum(cost_nano_usd) AS cost
          FROM quota_usage_counters GROUP BY 1, 2) g
  FULL JOIN (SELECT user_id, count(*) AS n, sum(total_tokens) AS tokens, sum(coalesce(total_cost_nano_usd, 0)) AS cost
               FROM usage_log GROUP BY 1) l USING (user_id)
 GROUP BY g.grain ORDER BY 1;

-- Privileges: a writer may call it, PUBLIC may not.
CREATE ROLE regress_tl_batch_app IN ROLE tokenledger_writer;
CREATE ROLE regress_tl_batch_other;
SET ROLE regress_tl_batch_app;
SELECT cardinality(usage_log_insert_batch(ARRAY['app-user'], ARRAY['gpt-4o'])) AS writer_recorded;
RESET ROLE;
SET ROLE regress_tl_batch_other;
SELECT pg_temp.fails($$SELECT usage_log_insert_batch(ARRAY['x'], ARRAY['gpt-4o'])$$);
RESET ROLE;
DROP ROLE regress_tl_batch_app;
DROP ROLE regress_tl_batch_other;

-- usage_rollup: exactly-once folding, re-runs, late events, batches, the
-- reprice hook and the latency histograms.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- Compares rollup + tail with the raw ledger, per hour and per day, every
-- column; lists the differences (none expected).
CREATE FUNCTION rollup_diff() RETURNS TABLE (side text, grain text, bucket timestamptz, user_id text, v numeric[])
LANGUAGE sql AS $$
    WITH wm AS (SELECT watermark FROM usage_rollup_state),
    raw AS (
        SELECT date_trunc('hour', occurred_at, 'UTC') AS hour, date_trunc('day', occurred_at, 'UTC') AS day, l.*
        FROM usage_log l),
    vals_raw AS (
        SELECT g.grain, CASE g.grain WHEN 'hour' THEN r.hour ELSE r.day END AS bucket, r.user_id,
               ARRAY[count(*), count(*) FILTER (WHERE r.total_cost_nano_usd IS NULL), sum(r.input_tokens), sum(r.output_tokens),
                     sum(r.cache_read_tokens), sum(r.cache_write_tokens), sum(r.cache_write_1h_tokens),
                     sum(r.reasoning_tokens), sum(r.total_tokens),
                     coalesce(sum(r.input_cost_nano_usd), 0), coalesce(sum(r.output_cost_nano_usd), 0),
                     coalesce(sum(r.cache_read_cost_nano_usd), 0), coalesce(sum(r.cache_write_cost_nano_usd), 0),
                     coalesce(sum(r.reasoning_cost_nano_usd), 0), coalesce(sum(r.total_cost_nano_usd), 0),
                     coalesce(sum(r.latency_ms), 0), count(r.latency_ms)]::numeric[] AS v
        FROM raw r CROSS JOIN (VALUES ('hour'), ('day')) g(grain)
        GROUP BY 1, 2, 3),
    combined AS (
        SELECT 'hour' AS grain, h.bucket, h.user_id, h.requests, h.unpriced_requests, h.input_tokens, h.output_tokens,
               h.cache_read_tokens, h.cache_write_tokens, h.cache_write_1h_tokens, h.reasoning_tokens, h.total_tokens,
               h.input_cost_nano_usd, h.output_cost_nano_usd, h.cache_read_cost_nano_usd, h.cache_write_cost_nano_usd,
               h.reasoning_cost_nano_usd, h.total_cost_nano_usd, h.latency_sum_ms, h.latency_count
        FROM usage_rollup_hourly h
        UNION ALL
        SELECT 'day', d.bucket, d.user_id, d.requests, d.unpriced_requests, d.input_tokens, d.output_tokens,
               d.cache_read_tokens, d.cache_write_tokens, d.cache_write_1h_tokens, d.reasoning_tokens, d.total_tokens,
               d.input_cost_nano_usd, d.output_cost_nano_usd, d.cache_read_cost_nano_usd, d.cache_write_cost_nano_usd,
               d.reasoning_cost_nano_usd, d.total_cost_nano_usd, d.latency_sum_ms, d.latency_count
        FROM usage_rollup_daily d
        UNION ALL
        SELECT g.grain, CASE g.grain WHEN 'hour' THEN r.hour ELSE r.day END, r.user_id, 1, (r.total_cost_nano_usd IS NULL)::int,
               r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cache_write_1h_tokens,
               r.reasoning_tokens, r.total_tokens, coalesce(r.input_cost_nano_usd, 0), coalesce(r.output_cost_nano_usd, 0),
               coalesce(r.cache_read_cost_nano_usd, 0), coalesce(r.cache_write_cost_nano_usd, 0),
               coalesce(r.reasoning_cost_nano_usd, 0), coalesce(r.total_cost_nano_usd, 0),
               coalesce(r.latency_ms, 0), (r.latency_ms IS NOT NULL)::int
        FROM raw r CROSS JOIN (VALUES ('hour'), ('day')) g(grain)
        WHERE r.event_id > (SELECT watermark FROM wm)),
    vals_fast AS (
        SELECT c.grain, c.bucket, c.user_id,
               ARRAY[sum(c.requests), sum(c.unpriced_requests), sum(c.input_tokens), sum(c.output_tokens),
                     sum(c.cache_read_tokens), sum(c.cache_write_tokens), sum(c.cache_write_1h_tokens),
                     sum(c.reasoning_tokens), sum(c.total_tokens), sum(c.input_cost_nano_usd), sum(c.output_cost_nano_usd),
                     sum(c.cache_read_cost_nano_usd), sum(c.cache_write_cost_nano_usd), sum(c.reasoning_cost_nano_usd),
                     sum(c.total_cost_nano_usd), sum(c.latency_sum_ms), sum(c.latency_count)]::numeric[]
        FROM combined c GROUP BY 1, 2, 3)
    (SELECT 'rollup+tail only', * FROM (SELECT * FROM vals_fast EXCEPT ALL SELECT * FROM vals_raw) a)
    UNION ALL
    (SELECT 'raw only', * FROM (SELECT * FROM vals_raw EXCEPT ALL SELECT * FROM vals_fast) b)
$$;

-- Nothing to fold yet.
CALL usage_rollup();
SELECT watermark, events_folded FROM usage_rollup_state;

-- Two users, two hours, one failure, one call without latency.
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 1000, output_tokens => 200, cache_read_tokens => 50,
       reasoning_tokens => 30, latency_ms => 800, provider => 'openai', endpoint => 'chat',
       occurred_at => '2026-01-10 10:05+00') AS e1 \gset
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 10, output_tokens => 2, latency_ms => 1200, provider => 'openai',
       endpoint => 'chat', occurred_at => '2026-01-10 10:55+00') AS e2 \gset
SELECT usage_log_insert('bob', 'claude-sonnet-4-5', input_tokens => 500, output_tokens => 100, cache_write_tokens => 40,
       cache_write_1h_tokens => 60, provider => 'anthropic', success => false, error_type => 'timeout',
       occurred_at => '2026-01-10 11:30+00') AS e3 \gset
-- Pricing (as the pricing stage would have done) for two of them.
UPDATE usage_log SET input_cost_nano_usd = 2500000, output_cost_nano_usd = 2000000, cache_read_cost_nano_usd = 62500,
       cache_write_cost_nano_usd = 0, reasoning_cost_nano_usd = 300000, total_cost_nano_usd = 4862500, price_id = 1
WHERE event_id = :e1;
UPDATE usage_log SET input_cost_nano_usd = 1500000, output_cost_nano_usd = 1500000, cache_read_cost_nano_usd = 0,
       cache_write_cost_nano_usd = 375000, reasoning_cost_nano_usd = 0, total_cost_nano_usd = 3375000, price_id = 2
WHERE event_id = :e3;

CALL usage_rollup();
SELECT watermark = :e3 AS watermark_at_last_event, events_folded FROM usage_rollup_state;
SELECT h.bucket, h.user_id, p.name AS provider, m.name AS model, e.name AS endpoint, h.success, h.requests,
       h.unpriced_requests, h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
       h.cache_write_1h_tokens, h.reasoning_tokens, h.total_tokens, h.total_cost_nano_usd,
       h.latency_sum_ms, h.latency_count, h.latency_hist
FROM usage_rollup_hourly h
JOIN usage_models m USING (model_id)
LEFT JOIN usage_providers p USING (provider_id)
LEFT JOIN usage_endpoints e USING (endpoint_id)
ORDER BY h.bucket, h.user_id;
SELECT bucket, user_id, requests, total_tokens, total_cost_nano_usd FROM usage_rollup_daily ORDER BY bucket, user_id;
SELECT * FROM rollup_diff();

-- Re-running folds nothing twice.
CALL usage_rollup();
SELECT sum(requests) AS hourly_requests, (SELECT sum(requests) FROM usage_rollup_daily) AS daily_requests FROM usage_rollup_hourly;

-- A late event for an old hour lands in that hour's existing row.
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 1, latency_ms => 0, provider => 'openai', endpoint => 'chat',
       occurred_at => '2026-01-10 10:59+00') > 0 AS late;
-- Until the next rollup it is in the tail, and rollup + tail still matches.
SELECT * FROM rollup_diff();
CALL usage_rollup();
SELECT requests, input_tokens, latency_hist FROM usage_rollup_hourly
WHERE bucket = '2026-01-10 10:00+00' AND user_id = 'alice';
SELECT * FROM rollup_diff();

-- Many events folded in small batches, each committed.
SELECT count(usage_log_insert('u' || (i % 7), 'gpt-4o', input_tokens => i, latency_ms => i * 13,
       occurred_at => timestamptz '2026-01-11 00:00+00' + i * interval '7 minutes'))
FROM generate_series(1, 300) i;
CALL usage_rollup(batch_size => 40);
SELECT events_folded, watermark = (SELECT max(event_id) FROM usage_log) AS caught_up FROM usage_rollup_state;
SELECT * FROM rollup_diff();

-- The reprice hook: usage_reprice updates the ledger, records new - old per
-- event in tokenledger_cost_deltas and calls the hook. Simulate it for one
-- rolled-up event that was priced, one that was unpriced, and one event in
-- the tail (which the hook must ignore: its raw row is folded later).
SELECT usage_log_insert('bob', 'claude-sonnet-4-5', input_tokens => 9, provider => 'anthropic',
       occurred_at => '2026-01-10 11:45+00') AS e_tail \gset
BEGIN;
CREATE TEMP TABLE tokenledger_cost_deltas (event_id bigint, occurred_at timestamptz, user_id text, provider_id smallint,
    model_id integer, endpoint_id integer, success boolean, input_cost_nano_usd bigint, output_cost_nano_usd bigint,
    cache_read_cost_nano_usd bigint, cache_write_cost_nano_usd bigint, reasoning_cost_nano_usd bigint,
    total_cost_nano_usd bigint) ON COMMIT DROP;
WITH new_price(event_id, ic, oc, crc, cwc, rc) AS (
    VALUES (:e1::bigint, 3000000::bigint, 2000000::bigint, 62500::bigint, 0::bigint, 300000::bigint),
           (:e2, 25000, 20000, 0, 0, 0),
           (:e_tail, 27000, 0, 0, 0, 0)),
old AS (SELECT l.* FROM usage_log l JOIN new_price n USING (event_id)),
upd AS (
    UPDATE usage_log l SET input_cost_nano_usd = n.ic, output_cost_nano_usd = n.oc, cache_read_cost_nano_usd = n.crc,
           cache_write_cost_nano_usd = n.cwc, reasoning_cost_nano_usd = n.rc,
           total_cost_nano_usd = n.ic + n.oc + n.crc + n.cwc + n.rc, price_id = 3
    FROM new_price n WHERE l.event_id = n.event_id
    RETURNING l.event_id, l.input_cost_nano_usd, l.output_cost_nano_usd, l.cache_read_cost_nano_usd,
              l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd)
INSERT INTO tokenledger_cost_deltas
SELECT o.event_id, o.occurred_at, o.user_id, o.provider_id, o.model_id, o.endpoint_id, o.success,
       u.input_cost_nano_usd - coalesce(o.input_cost_nano_usd, 0), u.output_cost_nano_usd - coalesce(o.output_cost_nano_usd, 0),
       u.cache_read_cost_nano_usd - coalesce(o.cache_read_cost_nano_usd, 0),
       u.cache_write_cost_nano_usd - coalesce(o.cache_write_cost_nano_usd, 0),
       u.reasoning_cost_nano_usd - coalesce(o.reasoning_cost_nano_usd, 0),
       u.total_cost_nano_usd - coalesce(o.total_cost_nano_usd, 0)
FROM old o JOIN upd u USING (event_id);
SELECT usage_rollup_apply_cost_deltas() AS applied_events;
COMMIT;
SELECT total_cost_nano_usd, unpriced_requests FROM usage_rollup_hourly
WHERE bucket = '2026-01-10 10:00+00' AND user_id = 'alice';
SELECT * FROM rollup_diff();
CALL usage_rollup();
SELECT * FROM rollup_diff();

-- A rollup every minute folds one hour at a time; the day's rows then come
-- straight from the hour's rows. Two folds into the same hour (new day
-- rows, then updated ones), mixed models, endpoints and outcomes.
SELECT count(usage_log_insert('m' || (i % 4), CASE WHEN i % 3 = 0 THEN 'gpt-4o' ELSE 'claude-sonnet-4-5' END,
       input_tokens => i, output_tokens => 2 * i, latency_ms => 40 * i, success => i % 5 <> 0,
       endpoint => CASE WHEN i % 2 = 0 THEN 'chat' END,
       occurred_at => timestamptz '2026-01-12 09:00+00' + i * interval '20 seconds'))
FROM generate_series(1, 60) i;
CALL usage_rollup();
SELECT count(usage_log_insert('m' || (i % 5), 'gpt-4o', input_tokens => i, latency_ms => 7 * i, endpoint => 'chat',
       occurred_at => timestamptz '2026-01-12 09:30+00' + i * interval '20 seconds'))
FROM generate_series(1, 40) i;
CALL usage_rollup();
SELECT * FROM rollup_diff();
-- The day's latency histograms too, per key.
SELECT user_id, model_id, endpoint_id, success, d.latency_hist, r.hist AS raw_hist
FROM (SELECT * FROM usage_rollup_daily WHERE bucket = '2026-01-12 00:00+00') d
FULL JOIN (SELECT user_id, model_id, coalesce(endpoint_id, 0) AS endpoint_id, success, usage_latency_hist(latency_ms) AS hist
           FROM usage_log WHERE occurred_at >= '2026-01-12 00:00+00' AND occurred_at < '2026-01-13 00:00+00'
           GROUP BY 1, 2, 3, 4) r USING (user_id, model_id, endpoint_id, success)
WHERE d.latency_hist IS DISTINCT FROM r.hist;
SELECT count(*) AS day_rows FROM usage_rollup_daily WHERE bucket = '2026-01-12 00:00+00';
-- Events exactly on an hour long before 2000 (a client clock at the epoch)
-- land in that hour, one batch per hour as above.
SELECT usage_log_insert('clock', 'gpt-4o', input_tokens => 3, occurred_at => '1970-01-01 00:00+00') > 0 AS epoch;
CALL usage_rollup();
SELECT usage_log_insert('clock', 'gpt-4o', input_tokens => 4, occurred_at => '1999-12-31 23:00+00') > 0 AS eve_of_2000;
CALL usage_rollup();
SELECT bucket, requests, input_tokens FROM usage_rollup_hourly WHERE user_id = 'clock' ORDER BY bucket;
SELECT * FROM rollup_diff();

-- Bad input.
CALL usage_rollup(batch_size => 0);
SELECT usage_rollup_apply_cost_deltas();
BEGIN;
CALL usage_rollup();
ROLLBACK;

-- Latency histograms: two log-spaced buckets per power of two.
SELECT v, usage_latency_bucket(v) FROM unnest(ARRAY[0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 1000, 1500, 2147483647]) v;
SELECT usage_latency_hist(v) FROM unnest(ARRAY[0, 1, 1, 5, NULL]) v;
SELECT usage_hist_add('{1,2}', '{0,0,3}'), usage_hist_add(NULL, '{}'), usage_hist_sum(h)
FROM (VALUES ('{1}'::bigint[]), ('{0,1,0,0}'), (NULL)) t(h) GROUP BY 1, 2;
-- p50 of 100 latencies 1..100 ms: the 50th is 50, in bucket [48, 63]; p99 (99) in [96, 127].
SELECT usage_hist_quantile(usage_latency_hist(v), 0.5) AS p50, usage_hist_quantile(usage_latency_hist(v), 0.99) AS p99,
       usage_hist_quantile(usage_latency_hist(v), 1) AS max
FROM generate_series(1, 100) v;
SELECT usage_hist_quantile('{}', 0.5) AS empty;
SELECT usage_hist_quantile('{1}', 0);
SELECT usage_hist_add('{1,NULL}', '{1}');

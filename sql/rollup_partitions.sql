-- Partitions, maintenance, retention and erasure.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- Until partitions exist, the default partition takes every row.
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 10, latency_ms => 100, occurred_at => '2026-01-15 12:00+00') AS jan \gset
SELECT usage_log_insert('bob', 'gpt-4o', input_tokens => 20, occurred_at => '2026-02-03 08:00+00') > 0 AS ok;
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 30, occurred_at => '2025-06-30 23:59:59+00') > 0 AS ok;
SELECT tableoid::regclass AS partition, count(*) FROM usage_log GROUP BY 1;

-- Monthly partitions, aligned to calendar months in UTC; strays move in
-- with their event ids unchanged.
SELECT usage_create_partition('2026-01-20 00:00+00') AS created;
SELECT usage_create_partition('2026-01-31 23:00+00') AS already_covered;
SELECT tableoid::regclass AS partition, event_id = :jan AS same_id, user_id, input_tokens
FROM usage_log WHERE occurred_at >= '2026-01-01' AND occurred_at < '2026-02-01+00';
SELECT partition_name, range_from, range_to, is_default FROM usage_partitions();

-- Other widths: weeks align to Mondays; a partition next to an existing one
-- is clipped, never overlapping.
SET tokenledger.partition_interval = '1 week';
SELECT usage_create_partition('2026-02-03 00:00+00') AS weekly;
SET tokenledger.partition_interval = '3 months';
SELECT usage_create_partition('2025-06-01 00:00+00') AS quarter;
SELECT usage_create_partition('2026-02-20 00:00+00') AS clipped_quarter;
SELECT partition_name, range_from, range_to FROM usage_partitions() WHERE NOT is_default;
SELECT count(*) AS rows_left_in_default FROM usage_log_default;
RESET tokenledger.partition_interval;

-- Inserts never fail for lack of a partition.
SELECT usage_log_insert('carol', 'gpt-4o', input_tokens => 1, occurred_at => '2024-03-01 00:00+00') > 0 AS stray_accepted;
SELECT tableoid::regclass AS partition FROM usage_log WHERE user_id = 'carol';

-- Bad settings are rejected with a hint, and nothing is created.
SET tokenledger.partition_interval = 'fortnightly';
SELECT usage_create_partition('2030-01-01 00:00+00');
SET tokenledger.partition_interval = '1 month 2 days';
SELECT usage_create_partition('2030-01-01 00:00+00');
SET tokenledger.partition_interval = '10 minutes';
SELECT usage_create_partition('2030-01-01 00:00+00');
RESET tokenledger.partition_interval;
SELECT usage_create_partition(NULL);
SELECT count(*) AS partitions FROM usage_partitions();

-- Retention: partitions that ended more than raw_retention ago are dropped,
-- but only once rolled up; the rollups keep their history.
SET tokenledger.raw_retention = '1 day';
SELECT usage_drop_old_partitions() AS dropped_before_rollup;
CALL usage_rollup();
SELECT usage_drop_old_partitions() AS dropped;
SELECT count(*) AS raw_rows_left FROM usage_log WHERE occurred_at < '2026-03-01+00';
SELECT bucket, user_id, requests, total_tokens FROM usage_rollup_daily ORDER BY bucket, user_id;
SET tokenledger.raw_retention = 'forever';
SELECT usage_drop_old_partitions();
RESET tokenledger.raw_retention;

-- Request ids older than the retention are forgotten.
INSERT INTO usage_request_ids VALUES ('old-req', 1, now() - interval '100 days'), ('new-req', 2, now());
SELECT usage_prune_request_ids() AS pruned;
SELECT request_id FROM usage_request_ids;

-- Maintenance: rolls up, creates this period's partitions and the next two,
-- moves strays; re-running creates nothing more.
SELECT usage_log_insert('dave', 'gpt-4o', input_tokens => 5) > 0 AS now_event;
SET client_min_messages = warning;
CALL usage_maintenance();
RESET client_min_messages;
SELECT count(*) FILTER (WHERE now() >= range_from AND now() < range_to) AS current_partition,
       count(*) FILTER (WHERE range_from > now()) AS future_partitions
FROM usage_partitions() WHERE NOT is_default;
SELECT count(*) AS rows_in_default FROM usage_log_default;
SELECT watermark = (SELECT max(event_id) FROM usage_log) AS rolled_up FROM usage_rollup_state;
SELECT array_agg(n) AS created_again FROM usage_create_partitions() n;
SELECT usage_create_partitions(-1);

-- Erasure: every row of the user moves to an anonymous subject; totals stay.
SELECT usage_log_insert('erin', 'gpt-4o', input_tokens => 40, latency_ms => 10, session_id => 'chat-42',
       occurred_at => '2026-01-15 12:10+00') > 0 AS ok;
CALL usage_rollup();
SELECT usage_log_insert('erin', 'gpt-4o', input_tokens => 2, occurred_at => '2026-01-15 12:20+00') > 0 AS tail_event;
-- Quota state that names erin: an assignment, a block (both audited), a hold and an alert.
SELECT (quota_assign('erin', 'beta', '{"tokens_per_day": 90000}')).plan AS assigned_plan;
SELECT quota_block('erin', 'abuse report');
SELECT quota_unblock('erin') IS NOT NULL AS unblocked;
SELECT (quota_reserve('erin', 10, 0, '1 hour')).allowed AS reserved;
INSERT INTO quota_alert_log (user_id, plan, limit_name, threshold_pct, window_start, used, limit_value)
VALUES ('erin', 'beta', 'tokens_per_day', 50, '2026-01-15 00:00+00', 45000, 90000);
CREATE TEMP TABLE totals_before AS
SELECT (SELECT sum(total_tokens) FROM usage_log) AS raw, (SELECT sum(total_tokens) FROM usage_rollup_hourly) AS hourly,
       (SELECT sum(total_tokens) FROM usage_rollup_daily) AS daily;
SELECT object, rows_changed, reassigned_to FROM usage_forget_user('erin', 'forgotten-1');
SELECT (SELECT sum(total_tokens) FROM usage_log) = raw AS raw_same,
       (SELECT sum(total_tokens) FROM usage_rollup_hourly) = hourly AS hourly_same,
       (SELECT sum(total_tokens) FROM usage_rollup_daily) = daily AS daily_same
FROM totals_before;
-- No row anywhere in the extension's schema holds the id any more.
DO $$
DECLARE
    r record;
    n bigint;
    total bigint := 0;
BEGIN
    FOR r IN SELECT c.oid::regclass AS tbl, a.attname
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
               AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN ('text'::regtype, 'jsonb'::regtype) LOOP
        EXECUTE format('SELECT count(*) FROM %s WHERE %I::text = ''erin'' OR %I::text LIKE ''%%"erin"%%''', r.tbl, r.attname, r.attname) INTO n;
        IF n > 0 THEN RAISE NOTICE '% rows of %.% mention erin', n, r.tbl, r.attname; END IF;
        total := total + n;
    END LOOP;
    RAISE NOTICE 'rows holding the forgotten id: %', total;
END
$$;
SELECT requests, total_tokens FROM usage_user_summary('forgotten-1', '2026-01-01+00', '2026-02-01+00');
-- A fresh random subject by default; the same user twice merges rollup rows.
SELECT usage_log_insert('frank', 'gpt-4o', input_tokens => 1, occurred_at => '2026-01-15 12:00+00') > 0 AS ok;
CALL usage_rollup();
SELECT object, rows_changed, reassigned_to LIKE 'forgotten:%' AS random_subject FROM usage_forget_user('frank');
SELECT object, rows_changed FROM usage_forget_user('frank');
SELECT usage_forget_user('');
SELECT usage_forget_user('x', 'x');

#!/usr/bin/env bash
# Released versions are frozen, and every one of them upgrades to the
# current version with the same result as a fresh install.
#   1. every script listed in extension/released.sha256 (released install
#      scripts and the upgrade scripts between released versions) is unchanged;
#   2. if the current version is released, install/ still assembles exactly
#      its script (otherwise: bump default_version, add an upgrade script);
#   3. for each earlier release R: CREATE EXTENSION VERSION R, then ALTER
#      EXTENSION UPDATE, gives the same catalog fingerprint as a fresh
#      install of the current version.
# Prints one "ok"/"FAILED" line per check; exits non-zero if any failed.
set -uo pipefail
TL_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXT="$TL_ROOT/extension"
current=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$EXT/tokenledger.control")
failed=0
ok() { echo "ok - $1"; }
bad() { echo "FAILED - $1"; failed=1; }

if [ -s "$EXT/released.sha256" ]; then
    if (cd "$EXT" && sha256sum --quiet -c released.sha256); then ok "released install and upgrade scripts are unchanged"
    else bad "a released script changed; released scripts are frozen, put changes in a new upgrade script"; fi
fi

if grep -q " tokenledger--$current.sql\$" "$EXT/released.sha256" 2>/dev/null; then
    if make -s -C "$EXT" assembled-script PG_CONFIG="${PG_CONFIG:-pg_config}" | cmp -s - "$EXT/tokenledger--$current.sql"; then
        ok "install/ still assembles the released $current script"
    else
        bad "install/ changed after $current was released: bump default_version in tokenledger.control and add tokenledger--$current--<new>.sql"
    fi
fi

fingerprint() { # database -> sorted description of every extension object
    psql -X -At -d "$1" -v ON_ERROR_STOP=1 <<'SQL'
WITH members AS (
    SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = 'tokenledger' AND d.deptype = 'e')
SELECT pg_describe_object(classid, objid, 0) || ' | comment=' || coalesce(obj_description(objid, classid::regclass::name), '')
FROM members
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
       || ' vol=' || p.provolatile::text || ' secdef=' || p.prosecdef || ' strict=' || p.proisstrict
       || ' config=' || coalesce(p.proconfig::text, '') || ' acl=' || coalesce(p.proacl::text, '')
       || ' args=' || pg_get_function_arguments(p.oid) || ' body=' || md5(p.prosrc)
FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
       || ' collation=' || coalesce(a.attcollation::regcollation::text, '')
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity
       || ' acl=' || coalesce(c.relacl::text, '')
       || CASE WHEN c.relkind = 'v' THEN ' def=' || md5(pg_get_viewdef(c.oid)) ELSE '' END
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(co.oid)
FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || po.polname || ' on ' || po.polrelid::regclass || ' cmd=' || po.polcmd::text
       || ' roles=' || po.polroles::regrole[]::text || ' using=' || coalesce(pg_get_expr(po.polqual, po.polrelid), '')
FROM members m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
ORDER BY 1;
SQL
}

# Released install scripts only (an upgrade script's name has two versions).
for script in $(awk '$2 !~ /^tokenledger--.*--/ {print $2}' "$EXT/released.sha256" 2>/dev/null); do
    old=${script#tokenledger--}; old=${old%.sql}
    [ "$old" = "$current" ] && continue
    for db in tl_upgrade tl_fresh; do
        psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    done
    if psql -X -q -v ON_ERROR_STOP=1 -d tl_upgrade -c "CREATE EXTENSION tokenledger VERSION '$old'" \
           -c "ALTER EXTENSION tokenledger UPDATE" \
       && psql -X -q -v ON_ERROR_STOP=1 -d tl_fresh -c "CREATE EXTENSION tokenledger"; then
        # A fingerprint that fails to compute must not compare equal to another.
        if ! fingerprint tl_upgrade > "$TMPDIR/upgraded.txt" || ! fingerprint tl_fresh > "$TMPDIR/fresh.txt"; then
            bad "could not fingerprint the extension catalogs"
        elif diff "$TMPDIR/upgraded.txt" "$TMPDIR/fresh.txt"; then
            ok "$old upgraded to $current matches a fresh install of $current"
        else
            bad "$old upgraded to $current differs from a fresh install (diff above: < upgraded, > fresh)"
        fi
    else
        bad "installing $old and updating to $current failed"
    fi
    psql -X -q -d postgres -c "DROP DATABASE tl_upgrade" -c "DROP DATABASE tl_fresh"
done

# An upgrade from 0.1.0 backfills the quota counters from the ledger, so
# quota_status right after ALTER EXTENSION UPDATE equals a brute-force sum
# over usage_log (in a time zone whose offset is not whole hours).
if grep -q " tokenledger--0.1.0.sql\$" "$EXT/released.sha256" 2>/dev/null && [ "$current" != 0.1.0 ]; then
    psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS tl_backfill" -c "CREATE DATABASE tl_backfill"
    backfill=$(psql -X -q -At -v ON_ERROR_STOP=1 -d tl_backfill <<'SQL' | tail -1
CREATE EXTENSION tokenledger VERSION '0.1.0';
SELECT quota_plan_set('bf', requests_per_minute => 1000000, requests_per_hour => 1000000,
    requests_per_day => 1000000, tokens_per_minute => 1000000000, tokens_per_day => 1000000000,
    tokens_per_month => 1000000000, cost_per_day => 1000, cost_per_month => 1000,
    timezone => 'Asia/Kolkata') IS NOT NULL;
SELECT quota_assign('bf_user', 'bf') IS NOT NULL;
-- Every 37 seconds over the last 31 hours, then one a day back to 40 days.
SELECT count(usage_log_insert('bf_user', 'gpt-4o', input_tokens => g, output_tokens => 1,
                              occurred_at => now() - g * interval '37 seconds')) FROM generate_series(0, 3000) g;
SELECT count(usage_log_insert('bf_user', 'gpt-4o', input_tokens => 1,
                              occurred_at => now() - g * interval '1 day')) FROM generate_series(2, 40) g;
ALTER EXTENSION tokenledger UPDATE;
WITH w AS (SELECT date_trunc('day', now(), 'Asia/Kolkata') AS day0, date_trunc('month', now(), 'Asia/Kolkata') AS month0),
l AS (SELECT * FROM usage_log WHERE user_id = 'bf_user'),
brute(limit_name, used) AS (VALUES
    ('requests_per_minute', (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
    ('requests_per_hour',   (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 hour')::numeric),
    ('requests_per_day',    (SELECT count(*) FROM l, w WHERE occurred_at >= w.day0)::numeric),
    ('tokens_per_minute',   (SELECT coalesce(sum(total_tokens), 0) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
    ('tokens_per_day',      (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.day0)::numeric),
    ('tokens_per_month',    (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.month0)::numeric),
    ('cost_per_day',        (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.day0) / 1e9),
    ('cost_per_month',      (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.month0) / 1e9))
SELECT (SELECT count(*) FROM quota_usage_counters WHERE user_id = 'bf_user') > 0
       AND count(*) = 8 AND bool_and(b.used = s.used)
  FROM brute b JOIN quota_status('bf_user') s USING (limit_name);
SQL
)
    if [ "$backfill" = t ]; then ok "the 0.1.0 upgrade backfills quota counters: quota_status equals the ledger"
    else bad "after the 0.1.0 upgrade quota_status differs from the ledger (backfill: '$backfill')"; fi
    psql -X -q -d postgres -c "DROP DATABASE tl_backfill"
fi
exit $failed

\set u random(1, 10000)
\set m random(1, 8)
\set i random(100, 5000)
\set o random(10, 1000)
\set l random(200, 9000)
\set h :i / 2
\set t :i + :o + :h
INSERT INTO bench_indexed (occurred_at, event_id, total_tokens, input_tokens, output_tokens, cache_read_tokens, latency_ms, model_id, endpoint_id, provider_id, request_type_id, user_id, session_id, request_id) VALUES (now(), nextval('bench_plain_seq'), :t, :i, :o, :h, :l, :m, 1, 1, 1, 'user-' || :u, 'sess-' || :u, md5(random()::text));

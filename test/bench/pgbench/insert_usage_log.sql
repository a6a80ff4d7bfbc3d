\set u random(1, 10000)
\set m random(1, 8)
\set i random(100, 5000)
\set o random(10, 1000)
\set l random(200, 9000)
\set h :i / 2
SELECT usage_log_insert(user_id => 'user-' || :u, model => 'model-' || :m, provider => 'openai', endpoint => 'chat', input_tokens => :i, output_tokens => :o, cache_read_tokens => :h, session_id => 'sess-' || :u, request_id => md5(random()::text), latency_ms => :l);

\set u random(1, 10000)
SELECT usage_log_insert('u' || :u, 'gpt-4o', input_tokens => 100, output_tokens => 20);

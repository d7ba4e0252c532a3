-- The data parts of each day of the daily tables, as one number per (table, day) that a merge
-- keeps and every other change of the day's parts moves: the highest block number holding rows
-- (an insert, an attach or a swap takes a new one), the rows (a part dropped or detached) and the
-- highest mutation (an ALTER UPDATE or DELETE, lightweight or not). A merge keeps all three, so
-- the pass after a load does not fingerprint its day again because its parts merged.
SELECT table AS table_name, toDate(partition) AS day,
       cityHash64(maxIf(max_block_number, rows > 0), sum(rows),
                  maxIf(data_version, data_version != min_block_number)) AS parts_signature
FROM system.parts
WHERE database = 'analytics' AND active AND table IN {tables:Array(String)}
GROUP BY table, partition

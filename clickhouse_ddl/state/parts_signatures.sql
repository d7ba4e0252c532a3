-- The active data parts of each day of the daily tables, as one number per (table, day): it
-- changes whenever a part is added, removed, merged or mutated.
SELECT table AS table_name, toDate(partition) AS day,
       cityHash64(arraySort(groupArray(name))) AS parts_signature
FROM system.parts
WHERE database = 'analytics' AND active AND table IN {tables:Array(String)}
GROUP BY table, partition

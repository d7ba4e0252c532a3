-- The highest id per day of a fact table (or its staging copy), for the given days.
SELECT event_date AS day, max({id_column:Identifier}) AS max_id
FROM analytics.{table:Identifier}
WHERE event_date IN {days:Array(Date)}
GROUP BY event_date

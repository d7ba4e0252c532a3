SELECT event_date AS day, count() AS rows
FROM analytics.{table:Identifier}
WHERE event_date >= {start:Date} AND event_date < {end:Date}
GROUP BY event_date

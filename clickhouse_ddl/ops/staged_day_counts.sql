SELECT event_date, count() AS rows
FROM analytics.{staging:Identifier}
GROUP BY event_date

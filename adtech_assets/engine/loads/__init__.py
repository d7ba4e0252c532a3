"""Loads into ClickHouse: whole days replaced, rows appended, dims diffed, the rollup rebuilt."""

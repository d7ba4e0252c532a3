-- One streaming insert into the embedded engine (resources/native_stream.py): Native blocks
-- read from a FIFO of ours while they are written. INFILE takes a literal, not a parameter: the
-- path (our own temporary file) is bound as a quoted string, the columns as identifiers.
-- Each block (~490k rows) is inserted as it comes, as one insert_arrow call did: squashing
-- blocks to a million rows held 100-200 MiB more for no fewer CPU-seconds.
INSERT INTO analytics.{table:Identifier} ({columns:Identifiers}) FROM INFILE {path:Literal}
SETTINGS min_insert_block_size_rows = 0, min_insert_block_size_bytes = 0
FORMAT Native

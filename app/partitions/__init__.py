"""Time partitions of the append-only logs (delivery attempts, the received log) and the firehose (events, clicks), kept by pg_partman."""

"""Time partitions of the append-only logs (delivery attempts, the received log), kept by pg_partman."""

"""Reports and cohorts over the report rollups (sql/migrations/0015_money.sql), with costs, profit and ROI."""

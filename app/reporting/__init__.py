"""Report queries over the deck's rollups (sql/migrations/0005_dashboard.sql)."""

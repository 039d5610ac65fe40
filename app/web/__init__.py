"""Dashboard access: login sessions, CSRF, failed-login throttling, space membership and roles."""

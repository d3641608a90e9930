"""End-to-end tests: the HTTP server started for real, the CLI as a subprocess, the demo,
PostgreSQL and Chromium."""

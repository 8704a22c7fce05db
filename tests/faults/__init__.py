"""Fault tests (issue 12): real processes, a throwaway PostgreSQL the test stops, freezes and restarts, real Redis."""

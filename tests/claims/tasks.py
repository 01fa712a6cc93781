"""Tasks the claim checks in tests/claims/ fire at the test worker (loaded with --include)."""

"""Tasks for the claim checks of topics 7-9 (ignore_result, canvas, Django patterns)."""

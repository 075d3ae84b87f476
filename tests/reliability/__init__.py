"""The reliability suite: duplicates and concurrency, faults, fuzzing, and a soak (issue 8)."""

"""Small, dependency-free helpers every layer may use: atomic writes, durations, secrets, progress, clock,
company domains. Nothing here imports from the rest of pql."""

"""Per-agent, per-tier vector indexes and the queries over them."""

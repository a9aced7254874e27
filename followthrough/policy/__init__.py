"""Pure contact and delivery policy decisions (workflow-safe)."""

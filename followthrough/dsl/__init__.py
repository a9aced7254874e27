"""The definition language: schema, validation and the pure interpreter (workflow-safe)."""

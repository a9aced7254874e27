"""Value types that cross the workflow boundary (workflow-safe: pydantic models only)."""

"""Service layer of central: every write goes through a function here (ingest, tokens,
operator actions), so approvals and the audit log can be added in one place later."""

"""Writes that matter for messaging outside the webhook's ingest (messaging.ingest),
one module per job. Keyword-only arguments; each service owns its transaction."""

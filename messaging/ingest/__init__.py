"""The bridge's webhook deliveries, from bytes to rows. See docs/architecture.md, "Ingest".

- `parse`: bytes → typed events (`events`), reading each field once (`fields`);
- `receive`: stores every event as a WebhookEvent before anything else;
- `store`: the only writer of messages and event states (set-based SQL in `sql`,
  its ORM twin in `orm`; sessions from bridge events in `sessions`).
"""

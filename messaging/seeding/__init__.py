"""Bulk demo data at database speed: users, sessions and realistic message history.

Everything is drawn from one `random.Random(seed)`, so the same seed on the same
database state gives the same rows (surrogate ids and `updated_at` aside). Message
rows are generated as plain tuples in `MESSAGE_COLUMNS` order and written with
PostgreSQL `COPY ... FROM STDIN` (psycopg 3), or `bulk_create` on other databases.

Shape of the data:
- one assistant number (the `main` session, `WHATSAPP_MAIN_SESSION_ID`), shared by
  all users: each user's chat with the assistant lives there, `user` = that contact;
- each user's own numbers (`--sessions-per-user` sessions of type `user`, the first
  connected), each with several one-to-one chats and a group or two;
- every message type with its media metadata, captions, replies to earlier messages
  of the same chat, delivery statuses, timestamps spread over `days` days, ids
  increasing with time as they would on a live system.

Modules: `seeder` (the plan and the run), `people` (users, sessions, chats),
`rows` (message rows), `writers` (ids and the COPY / bulk_create writers),
`fake_values` and `vocabulary` (what names, numbers, texts and media look like),
`columns` (the message table's layout, importable without Django).
"""

"""The message table as the bulk writers fill it; plain constants, so the benchmark
can use them without setting Django up."""

# Every column of messaging_message, in the order the generated rows hold them.
MESSAGE_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "session_id",
    "user_id",
    "wa_message_id",
    "chat_jid",
    "sender_jid",
    "recipient_jid",
    "direction",
    "timestamp",
    "message_type",
    "content",
    "caption",
    "reply_to_id",
    "media_metadata",
    "status",
)
# Messages written per transaction unless the plan says otherwise.
CHUNK_SIZE = 100_000

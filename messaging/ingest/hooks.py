"""Where apps above messaging hear about new messages without messaging importing them.

`messages_stored` is sent after the messages of a delivery are committed, with
``messages``: (session key, WhatsApp message id, direction) of each message the
delivery stored (redeliveries included: receivers must be idempotent). The assistant
connects to it to create its turns.
"""

from django.dispatch import Signal

messages_stored = Signal()

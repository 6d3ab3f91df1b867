from django.apps import AppConfig


class AssistantConfig(AppConfig):
    """The reply loop: a WhatsApp message in, an LLM reply out (docs/architecture.md)."""

    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from assistant import triggers
        from messaging.ingest import hooks

        hooks.messages_stored.connect(triggers.messages_stored_received)

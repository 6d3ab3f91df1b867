"""Sending WhatsApp messages: the bridge's REST client (`bridge`) and the pluggable
sending backends chosen by ``WHATSAPP_BACKEND`` (`backends`)."""

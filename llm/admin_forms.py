"""Admin forms for LLM configs (the API key is write-only) and agents (tool definitions)."""

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from llm import validation
from llm.models import Agent, LLMConfig

API_KEY_FIELD = "api_key"


class PrettyJSONField(forms.JSONField):
    """A JSON form field that shows its value indented, for editing by hand."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{name}: {message}" for name, msgs in exc.message_dict.items() for message in msgs]
    return exc.messages


class LLMConfigAdminForm(forms.ModelForm):
    """The key is typed into a password box that never shows a stored value.

    Adding needs a key; on change a blank box keeps the current key and a typed
    one replaces it. The form only validates: the admin saves through
    `llm.services` (or `LLMConfig.set_api_key`), which encrypts.
    """

    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = LLMConfig
        fields = ("user", "provider", "model_settings", "is_active")
        field_classes = {"model_settings": PrettyJSONField}
        help_texts = {
            "is_active": "A user has at most one active config: activating this one "
            "deactivates the user's others.",
            "model_settings": 'A JSON object: "model", "temperature", "max_tokens", '
            '"custom_instructions". The provider\'s default model applies when omitted.',
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        key_field = self.fields[API_KEY_FIELD]
        if self.instance._state.adding:
            key_field.required = True
            key_field.help_text = (
                "Stored encrypted; afterwards shown only as its last 4 characters."
            )
        else:
            key_field.help_text = (
                f"Leave blank to keep the current key ({self.instance.masked_api_key}). "
                "Type a new key to replace it."
            )

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("model_settings", {}) is None:  # a blank box means no settings
            cleaned_data["model_settings"] = {}
        provider = cleaned_data.get("provider")
        key = cleaned_data.get(API_KEY_FIELD) or ""
        if not provider:
            return cleaned_data
        provider_changed = not self.instance._state.adding and provider != self.instance.provider
        if provider_changed and not key:
            self.add_error(API_KEY_FIELD, "A new provider needs its own API key: enter it too.")
        if key:
            try:
                cleaned_data[API_KEY_FIELD] = validation.validate_api_key(
                    provider=provider, api_key=key
                )
            except ValidationError as exc:
                self.add_error(API_KEY_FIELD, _messages(exc))
        if "model_settings" in cleaned_data:  # absent when the JSON did not parse
            try:
                cleaned_data["model_settings"] = validation.validate_model_settings(
                    provider=provider, model_settings=cleaned_data["model_settings"]
                )
            except ValidationError as exc:
                self.add_error("model_settings", _messages(exc))
        return cleaned_data

    def _get_validation_exclusions(self):
        # "One active config per user" is kept by deactivating the others on save
        # (as the API does), not by refusing the form.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_active")
        return exclusions


FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
FUNCTION_KEYS = {"name", "description", "parameters"}


def validate_function_definitions(value: Any) -> None:
    """Tool definitions as providers take them: a list of {name, description, parameters}."""
    if not isinstance(value, list):
        raise ValidationError("Functions must be a JSON list of tool definitions.")
    errors = []
    seen: set[str] = set()
    for index, item in enumerate(value, start=1):
        where = f"Function {index}"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object with name, description and parameters.")
            continue
        unknown = sorted(set(item) - FUNCTION_KEYS)
        if unknown:
            errors.append(f"{where}: unknown keys {', '.join(unknown)}.")
        name = item.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
            errors.append(f"{where}: name must be 1-64 letters, digits, '_' or '-'.")
        elif name in seen:
            errors.append(f"{where}: the name {name!r} is used twice.")
        else:
            seen.add(name)
            where = f"Function {name!r}"
        if not isinstance(item.get("description", ""), str):
            errors.append(f"{where}: description must be a string.")
        parameters = item.get("parameters", {"type": "object"})
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            errors.append(f'{where}: parameters must be a JSON schema with "type": "object".')
    if errors:
        raise ValidationError(errors)


class AgentAdminForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ("name", "description", "model", "system_prompt", "functions", "is_active")
        field_classes = {"functions": PrettyJSONField}
        widgets = {"functions": forms.Textarea(attrs={"rows": 16, "cols": 80})}

    def clean_functions(self):
        functions = self.cleaned_data.get("functions")
        if functions is None:
            return []
        validate_function_definitions(functions)
        return functions

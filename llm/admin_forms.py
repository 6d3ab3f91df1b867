"""Admin forms for LLM configs (the API key is write-only) and agents (tool definitions)."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from llm import validation
from llm.models import Agent, LLMConfig
from llm.tool_catalogue import validate_tool_names

API_KEY_FIELD = "api_key"


class PrettyJSONField(forms.JSONField):
    """A JSON form field that shows its value indented, for editing by hand."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


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
        if not provider:
            return cleaned_data
        try:
            valid = validation.validate_config(
                current=None if self.instance._state.adding else self.instance,
                provider=provider,
                api_key=cleaned_data.get(API_KEY_FIELD) or None,
                # Absent when the JSON did not parse: that error is shown already.
                model_settings=cleaned_data.get("model_settings"),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:  # e.g. a required key: the form said so
                    self.add_error(field, messages)
            return cleaned_data
        if valid.api_key is not None:
            cleaned_data[API_KEY_FIELD] = valid.api_key
        if valid.model_settings is not None:
            cleaned_data["model_settings"] = valid.model_settings
        return cleaned_data

    def _get_validation_exclusions(self):
        # "One active config per user" is kept by deactivating the others on save
        # (as the API does), not by refusing the form.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_active")
        return exclusions


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
        validate_tool_names(functions)
        return functions

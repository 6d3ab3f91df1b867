from django.core.exceptions import FieldError
from django.db import models

from llm import crypto


class EncryptedTextField(models.TextField):
    """A column that only ever holds ciphertext written by `llm.crypto`.

    The model attribute is the ciphertext too: decrypting is an explicit call
    (`crypto.decrypt`), so a value that cannot be decrypted never masquerades as
    the secret. The column refuses every lookup: ciphertext cannot be searched,
    filtered or compared, and a lookup would only leak timing or structure.
    """

    description = "Encrypted text (Fernet key ring)"

    def get_lookup(self, lookup_name):
        return None

    def get_transform(self, lookup_name):
        return None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value and not crypto.is_ciphertext(value):
            raise ValueError(
                f"{self.model.__name__}.{self.name} only stores ciphertext; "
                "encrypt the value with llm.crypto.encrypt() first."
            )
        return value


class EncryptedColumnQuerySet(models.QuerySet):
    """Refuses ordering on encrypted columns (lookups are refused by the field)."""

    def order_by(self, *field_names):
        encrypted = {
            f.name for f in self.model._meta.concrete_fields if isinstance(f, EncryptedTextField)
        }
        for item in field_names:
            for name in _referenced_names(item):
                if name.lstrip("-?").split("__")[0] in encrypted:
                    raise FieldError(f"Cannot order by the encrypted column '{name.lstrip('-')}'.")
        return super().order_by(*field_names)


def _referenced_names(item):
    """Field names an order_by() item refers to: a string, or F() inside an expression."""
    if isinstance(item, str):
        yield item
    elif isinstance(item, models.F):
        yield item.name
    else:
        for source in getattr(item, "get_source_expressions", list)():
            if source is not None:
                yield from _referenced_names(source)

import contextlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import TimestampedModel
from core.phone import has_e164_shape, normalize_phone_number, validate_phone_number


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, phone_number: str, password: str | None, **extra_fields):
        user = self.model(phone_number=normalize_phone_number(phone_number), **extra_fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, phone_number: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(phone_number, password, **extra_fields)

    def create_superuser(self, phone_number: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(phone_number, password, **extra_fields)

    def create_whatsapp_users(self, names_by_phone: dict[str, str]) -> None:
        """Users for numbers WhatsApp reported (E.164, already normalised; the value is
        the display name), in one INSERT. Existing users are left as they are. They
        have no usable password: they log in with a code."""
        for phone_number in names_by_phone:
            if not has_e164_shape(phone_number):  # already normalised: the shape is enough
                raise ValueError(f"Not an E.164 phone number: {phone_number!r}")
        now = timezone.now()
        users = []
        for phone_number in sorted(names_by_phone):
            user = self.model(
                phone_number=phone_number,
                display_name=names_by_phone[phone_number][:150],
                first_seen=now,
            )
            user.set_unusable_password()
            users.append(user)
        self.bulk_create(users, ignore_conflicts=True, batch_size=1000)

    def get_by_natural_key(self, username):
        return self.get(**{self.model.USERNAME_FIELD: username})


class User(AbstractBaseUser, PermissionsMixin, TimestampedModel):
    """A person: a WhatsApp user (no usable password) or a staff member."""

    phone_number = models.CharField(
        max_length=16,
        unique=True,
        validators=[validate_phone_number],
        help_text="E.164, e.g. +14155550123. Used to log in.",
        error_messages={"unique": "A user with this phone number already exists."},
    )
    display_name = models.CharField(max_length=150, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_active = models.DateTimeField(null=True, blank=True)
    preferences = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log in to the admin site with a password."
    )
    # Login throttling state lives on the row so it is updated under a row lock.
    failed_login_attempts = models.PositiveIntegerField(default=0)
    login_locked_until = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "phone_number"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["-last_active"], name="user_last_active_idx")]

    def __str__(self) -> str:
        return (
            f"{self.display_name} ({self.phone_number})" if self.display_name else self.phone_number
        )

    def clean_fields(self, exclude=None):
        # Normalise before the field validators run (clean() would be too late for
        # them); an invalid number is left as is for the field validator to report.
        if self.phone_number and "phone_number" not in (exclude or ()):
            with contextlib.suppress(ValidationError):
                self.phone_number = normalize_phone_number(self.phone_number)
        super().clean_fields(exclude=exclude)

    def get_full_name(self) -> str:
        return self.display_name or self.phone_number

    def get_short_name(self) -> str:
        return self.display_name or self.phone_number


class AuthCode(TimestampedModel):
    """A login challenge. Only a keyed hash of the 6-digit code is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_codes")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The newest unused code of a user (the only one that can succeed).
            models.Index(
                fields=["user", "-created_at"],
                condition=Q(used_at__isnull=True),
                name="authcode_user_unused_idx",
            ),
            # Codes issued per user per hour/day, and clean-up of old codes.
            models.Index(fields=["user", "created_at"], name="authcode_user_created_idx"),
            models.Index(fields=["expires_at"], name="authcode_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"Login code for {self.user_id} issued {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

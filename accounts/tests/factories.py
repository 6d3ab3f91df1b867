import factory
from django.utils import timezone

from accounts.models import AuthCode, User
from core.models import AuditLog


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("phone_number",)

    # Valid, distinct US numbers: +1 415 555 0100 ... (555-01xx are valid for phonenumbers)
    phone_number = factory.Sequence(lambda n: f"+1415{2000000 + n:07d}")
    display_name = factory.Faker("name")
    first_seen = factory.LazyFunction(timezone.now)
    password = factory.django.Password(None)


class StaffUserFactory(UserFactory):
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct-horse-battery-staple")


class AuthCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuthCode

    user = factory.SubFactory(UserFactory)
    code_hash = factory.Faker("sha256")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(minutes=5))
    requested_ip = "127.0.0.1"


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    actor = factory.SubFactory(UserFactory)
    action = "login_succeeded"
    resource_type = "user"
    resource_id = factory.LazyAttribute(lambda o: str(o.actor.pk) if o.actor else "")
    changes = factory.LazyFunction(dict)
    ip_address = "127.0.0.1"
    user_agent = "pytest"

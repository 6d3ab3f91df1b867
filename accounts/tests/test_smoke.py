import pytest

from accounts.models import User


@pytest.mark.django_db
def test_create_user_normalises_phone_number():
    user = User.objects.create_user("+1 415 555 0100")
    assert user.phone_number == "+14155550100"
    assert not user.has_usable_password()

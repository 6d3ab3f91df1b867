import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuthCode, User
from accounts.tests.factories import AuditLogFactory, AuthCodeFactory, UserFactory
from core.admin_mixins import distinct_values
from core.models import AuditLog

pytestmark = pytest.mark.django_db

STAFF_PASSWORD = "a-long-and-unusual-passphrase-42"


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def changelist_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- Users ------------------------------------------------------------------


def test_user_pages_render(admin_client_logged_in):
    user = UserFactory(display_name="Ada Lovelace")
    client = admin_client_logged_in

    response = client.get(url("accounts_user_changelist"))
    assert response.status_code == 200
    assert user.phone_number in response.text
    assert "Ada Lovelace" in response.text

    assert client.get(url("accounts_user_change", user.pk)).status_code == 200
    assert client.get(url("accounts_user_add")).status_code == 200
    assert client.get(url("accounts_user_history", user.pk)).status_code == 200
    # Django's UserAdmin names this URL for auth.User whatever the user model is.
    assert client.get(url("auth_user_password_change", user.pk)).status_code == 200


def test_add_staff_user_with_password_normalises_the_phone_number(admin_client_logged_in):
    response = admin_client_logged_in.post(
        url("accounts_user_add"),
        {
            "phone_number": "+1 (415) 200-9999",
            "display_name": "New Staff",
            "is_staff": "on",
            "usable_password": "true",
            "password1": STAFF_PASSWORD,
            "password2": STAFF_PASSWORD,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(phone_number="+14152009999")
    assert user.is_staff
    assert user.check_password(STAFF_PASSWORD)


def test_add_whatsapp_user_without_password(admin_client_logged_in):
    response = admin_client_logged_in.post(
        url("accounts_user_add"),
        {"phone_number": "+14152009998", "display_name": "Contact", "usable_password": "false"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(phone_number="+14152009998")
    assert not user.is_staff
    assert not user.has_usable_password()


def test_staff_user_needs_a_password(admin_client_logged_in):
    response = admin_client_logged_in.post(
        url("accounts_user_add"),
        {"phone_number": "+14152009997", "is_staff": "on", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert "log in to the admin with a password" in response.text
    assert not User.objects.filter(phone_number="+14152009997").exists()


@pytest.mark.parametrize(
    ("phone_number", "message"),
    [
        ("4155550100", "must start with"),
        ("+1 415 abc", "only digits"),
        ("+999123456789", "not a valid phone number"),
    ],
)
def test_add_user_with_invalid_phone_number_explains(admin_client_logged_in, phone_number, message):
    response = admin_client_logged_in.post(
        url("accounts_user_add"), {"phone_number": phone_number, "usable_password": "false"}
    )
    assert response.status_code == 200
    assert message in response.text
    assert User.objects.count() == 1  # only the logged-in staff user


def test_add_user_with_a_taken_number_in_another_spelling_is_refused(admin_client_logged_in):
    existing = UserFactory(phone_number="+14152009996")
    response = admin_client_logged_in.post(
        url("accounts_user_add"), {"phone_number": "+1 415 200 9996", "usable_password": "false"}
    )
    assert response.status_code == 200
    assert "already exists" in response.text
    assert User.objects.filter(phone_number=existing.phone_number).count() == 1


def test_change_form_shows_the_hash_widget_not_the_hash(admin_client_logged_in, staff_user):
    response = admin_client_logged_in.get(url("accounts_user_change", staff_user.pk))
    assert response.status_code == 200
    assert "pbkdf2_sha256" in response.text  # the algorithm summary
    salt_and_hash = staff_user.password.split("$", 2)[2]
    assert salt_and_hash not in response.text
    assert staff_user.password.rsplit("$", 1)[1] not in response.text


def test_change_user_normalises_the_phone_number(admin_client_logged_in):
    user = UserFactory(display_name="Before")
    response = admin_client_logged_in.post(
        url("accounts_user_change", user.pk),
        {
            "phone_number": "+1 415 200 9995",
            "display_name": "After",
            "preferences": "{}",
            "is_active": "on",
            "failed_login_attempts": "0",
            "first_seen_0": "2025-01-01",
            "first_seen_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.phone_number, user.display_name) == ("+14152009995", "After")


def test_user_search_and_filters(admin_client_logged_in, staff_user):
    ada = UserFactory(display_name="Ada Lovelace")
    UserFactory(display_name="Grace Hopper", is_active=False)
    client = admin_client_logged_in

    response = client.get(url("accounts_user_changelist"), {"q": "lovelace"})
    assert [u.pk for u in response.context["cl"].result_list] == [ada.pk]

    response = client.get(url("accounts_user_changelist"), {"q": ada.phone_number[-6:]})
    assert [u.pk for u in response.context["cl"].result_list] == [ada.pk]

    response = client.get(url("accounts_user_changelist"), {"is_staff__exact": "1"})
    assert [u.pk for u in response.context["cl"].result_list] == [staff_user.pk]

    response = client.get(url("accounts_user_changelist"), {"is_active__exact": "0"})
    assert [u.display_name for u in response.context["cl"].result_list] == ["Grace Hopper"]


def test_user_changelist_order_is_newest_first(admin_client_logged_in, staff_user):
    users = UserFactory.create_batch(3)
    response = admin_client_logged_in.get(url("accounts_user_changelist"))
    listed = [u.pk for u in response.context["cl"].result_list]
    assert listed == [u.pk for u in reversed(users)] + [staff_user.pk]


def test_user_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("accounts_user_changelist")
    UserFactory()
    one = changelist_queries(admin_client_logged_in, path)
    UserFactory.create_batch(49)
    assert changelist_queries(admin_client_logged_in, path) == one


@pytest.mark.parametrize(
    "lookup",
    [
        "password__startswith",
        "auth_codes__code_hash__startswith",
        "llm_configs__api_key_encrypted__startswith",
    ],
)
def test_user_changelist_refuses_lookups_on_secrets(admin_client_logged_in, lookup):
    AuthCodeFactory()
    response = admin_client_logged_in.get(url("accounts_user_changelist"), {lookup: "a"})
    assert response.status_code == 400


def test_deleting_a_user_with_codes_and_audit_entries_is_possible(admin_client_logged_in):
    user = UserFactory()
    AuthCodeFactory(user=user)
    AuditLogFactory(actor=user)
    response = admin_client_logged_in.get(url("accounts_user_delete", user.pk))
    assert response.status_code == 200
    assert not response.context["perms_lacking"]

    response = admin_client_logged_in.post(url("accounts_user_delete", user.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert AuditLog.objects.filter(actor__isnull=True).count() == 1  # kept, actor cleared


# --- Login codes ------------------------------------------------------------


def test_auth_code_pages_render_without_code_material(admin_client_logged_in):
    code = AuthCodeFactory(attempts=2)
    used = AuthCodeFactory(used_at=timezone.now())
    expired = AuthCodeFactory(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    client = admin_client_logged_in
    pages = {
        "changelist": client.get(url("accounts_authcode_changelist")),
        "change": client.get(url("accounts_authcode_change", code.pk)),
        "history": client.get(url("accounts_authcode_history", code.pk)),
        "delete": client.get(url("accounts_authcode_delete", code.pk)),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        for row in (code, used, expired):
            assert row.code_hash not in response.text, name
            assert row.code_hash[:16] not in response.text, name
        assert "code_hash" not in response.text, name
        assert "Code hash" not in response.text, name

    changelist = pages["changelist"].text
    assert code.user.phone_number in changelist
    assert "Used" in changelist
    assert "Expired" in changelist
    assert "Unused" in changelist
    assert "127.0.0.1" in pages["change"].text


def test_auth_codes_cannot_be_added_or_edited(admin_client_logged_in):
    code = AuthCodeFactory()
    client = admin_client_logged_in
    assert client.get(url("accounts_authcode_add")).status_code == 403
    response = client.post(url("accounts_authcode_change", code.pk), {"attempts": "0"})
    assert response.status_code == 403


def test_auth_code_hash_cannot_be_probed_or_searched(admin_client_logged_in):
    code = AuthCodeFactory()
    client = admin_client_logged_in
    response = client.get(
        url("accounts_authcode_changelist"), {"code_hash__startswith": code.code_hash[:4]}
    )
    assert response.status_code == 400

    response = client.get(url("accounts_authcode_changelist"), {"q": code.code_hash})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_auth_code_search_by_phone_number(admin_client_logged_in):
    mine = AuthCodeFactory(user=UserFactory(phone_number="+14152009994"))
    AuthCodeFactory()
    response = admin_client_logged_in.get(
        url("accounts_authcode_changelist"), {"q": "+1 415 200 9994"}
    )
    assert [c.pk for c in response.context["cl"].result_list] == [mine.pk]


def test_auth_code_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("accounts_authcode_changelist")
    AuthCodeFactory()
    one = changelist_queries(admin_client_logged_in, path)
    AuthCodeFactory.create_batch(49)
    assert changelist_queries(admin_client_logged_in, path) == one


# --- Audit log --------------------------------------------------------------


def test_audit_log_pages_render(admin_client_logged_in):
    entry = AuditLogFactory(changes={"provider": "openai", "api_key_last4": "abcd"})
    client = admin_client_logged_in
    response = client.get(url("core_auditlog_changelist"))
    assert response.status_code == 200
    assert entry.actor.phone_number in response.text

    response = client.get(url("core_auditlog_change", entry.pk))
    assert response.status_code == 200
    assert "&quot;api_key_last4&quot;: &quot;abcd&quot;" in response.text  # pretty JSON


def test_audit_log_is_read_only_and_never_deleted(admin_client_logged_in):
    entry = AuditLogFactory()
    client = admin_client_logged_in
    assert client.get(url("core_auditlog_add")).status_code == 403
    assert client.post(url("core_auditlog_change", entry.pk), {}).status_code == 403
    assert client.get(url("core_auditlog_delete", entry.pk)).status_code == 403
    response = client.get(url("core_auditlog_changelist"))
    assert "delete_selected" not in response.context["cl"].model_admin.get_actions(
        response.wsgi_request
    )
    assert AuditLog.objects.filter(pk=entry.pk).exists()


def test_audit_log_filters_by_action_resource_type_and_date(admin_client_logged_in):
    login = AuditLogFactory(action="login_succeeded", resource_type="user")
    key = AuditLogFactory(action="llm_key_created", resource_type="llmconfig")
    old = AuditLogFactory(action="login_succeeded", resource_type="user")
    AuditLog.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=400)
    )
    client = admin_client_logged_in
    path = url("core_auditlog_changelist")

    response = client.get(path)
    filter_html = response.text
    assert "?action=llm_key_created" in filter_html
    assert "?resource_type=llmconfig" in filter_html

    response = client.get(path, {"action": "llm_key_created"})
    assert [e.pk for e in response.context["cl"].result_list] == [key.pk]

    response = client.get(path, {"resource_type": "user"})
    assert {e.pk for e in response.context["cl"].result_list} == {login.pk, old.pk}

    today = timezone.localdate()
    response = client.get(
        path,
        {
            "created_at__gte": today.isoformat(),
            "created_at__lt": (today + timezone.timedelta(days=1)).isoformat(),
        },
    )
    assert {e.pk for e in response.context["cl"].result_list} == {login.pk, key.pk}


def test_audit_log_search_by_resource_id_and_actor_phone(admin_client_logged_in):
    actor = UserFactory(phone_number="+14152009993")
    by_actor = AuditLogFactory(actor=actor, resource_id="")
    by_resource = AuditLogFactory(resource_type="llmconfig", resource_id="777")
    client = admin_client_logged_in
    path = url("core_auditlog_changelist")

    response = client.get(path, {"q": "777"})
    assert [e.pk for e in response.context["cl"].result_list] == [by_resource.pk]
    response = client.get(path, {"q": "+1 415 200 9993"})
    assert [e.pk for e in response.context["cl"].result_list] == [by_actor.pk]
    response = client.get(path, {"q": "77"})  # exact, not a substring scan
    assert list(response.context["cl"].result_list) == []


def test_audit_log_changelist_query_count_is_constant(admin_client_logged_in):
    path = url("core_auditlog_changelist")
    AuditLogFactory()
    one = changelist_queries(admin_client_logged_in, path)
    AuditLogFactory.create_batch(49, action="login_failed")
    assert changelist_queries(admin_client_logged_in, path) == one


def test_distinct_values_lists_each_value_once_in_order():
    for action in ["b", "a", "c", "a", "b"]:
        AuditLogFactory(action=action)
    assert distinct_values(AuditLog, "action", limit=10) == ["a", "b", "c"]
    assert distinct_values(AuditLog, "action", limit=2) == ["a", "b"]


@pytest.mark.postgres
def test_distinct_values_is_a_loose_index_scan_on_postgres():
    AuditLogFactory.create_batch(3, action="login_succeeded")
    with CaptureQueriesContext(connection) as ctx:
        distinct_values(AuditLog, "action", limit=10)
    (query,) = ctx.captured_queries
    assert "WITH RECURSIVE" in query["sql"]
    assert "DISTINCT" not in query["sql"].upper()


def test_auth_code_model_is_registered_without_hash_field():
    from django.contrib import admin

    model_admin = admin.site._registry[AuthCode]
    shown = {
        *model_admin.list_display,
        *model_admin.fields,
        *model_admin.readonly_fields,
        *model_admin.search_fields,
        *(f if isinstance(f, str) else f.__name__ for f in model_admin.list_filter),
    }
    assert not any("code_hash" in name for name in shown)

import pytest

from messaging.jid import InvalidJid, jid_for_phone_digits, normalize_jid, parse_jid


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("14155550123", "14155550123@s.whatsapp.net"),
        ("+14155550123", "14155550123@s.whatsapp.net"),
        (14155550123, "14155550123@s.whatsapp.net"),
        ("14155550123@s.whatsapp.net", "14155550123@s.whatsapp.net"),
        (" 14155550123@S.WhatsApp.Net ", "14155550123@s.whatsapp.net"),
        ("14155550123@c.us", "14155550123@s.whatsapp.net"),
        ("14155550123:12@s.whatsapp.net", "14155550123@s.whatsapp.net"),
        ("14155550123.0:3@s.whatsapp.net", "14155550123@s.whatsapp.net"),
        ("14155550123:7", "14155550123@s.whatsapp.net"),
        ("178394729388142@lid", "178394729388142@lid"),
        ("178394729388142:4@lid", "178394729388142@lid"),
        ("120363025246125888@g.us", "120363025246125888@g.us"),
        ("14155550123-1612345678@g.us", "14155550123-1612345678@g.us"),
        ("14155550123-1612345678", "14155550123-1612345678@g.us"),
        ("status@broadcast", "status@broadcast"),
    ],
)
def test_every_jid_form_is_normalised(raw, normalised):
    assert normalize_jid(raw) == normalised


def test_default_server_for_bare_group_ids():
    assert normalize_jid("120363025246125888", default_server="g.us") == ("120363025246125888@g.us")


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("14155550123@s.whatsapp.net", "+14155550123"),
        ("14155550123:12@s.whatsapp.net", "+14155550123"),
        ("14155550123@c.us", "+14155550123"),
        ("178394729388142@lid", None),  # a linked identity is not a phone number
        ("120363025246125888@g.us", None),
        ("status@broadcast", None),
        ("123@s.whatsapp.net", None),  # not a valid number: no phone user
    ],
)
def test_phone_number_only_for_phone_users(raw, phone):
    assert parse_jid(raw).phone_number == phone


def test_kinds():
    assert parse_jid("178394729388142@lid").is_lid
    assert parse_jid("120363025246125888@g.us").is_group
    assert not parse_jid("14155550123").is_group


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        True,
        1.5,
        {"id": "1"},
        "hello",
        "abc@s.whatsapp.net",
        "a@b@c",
        "@g.us",
        "1" * 200 + "@s.whatsapp.net",
    ],
)
def test_invalid_jids_raise(raw):
    with pytest.raises(InvalidJid):
        parse_jid(raw)


def test_jid_for_phone_digits():
    assert jid_for_phone_digits("+14155550123") == "14155550123@s.whatsapp.net"

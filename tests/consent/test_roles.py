"""consent/roles.py: which role may do what."""


def test_roles_may_load_consent_except_the_service_desk(dpo, marketer, service_desk):
    for user in (dpo, marketer):
        assert user.has_perms(["consent.add_consentload", "consent.view_consentload"])
    assert not service_desk.has_perm("consent.add_consentload")
    assert not service_desk.has_perm("consent.view_consentload")

"""The staff roles (auth groups) and their permissions — least privilege per role.

Migrations call `sync_roles` so the groups exist after `migrate`; it is idempotent and only
adds missing permissions, so a later migration can call it again after new models appear.
"""

DPO = "DPO"
MARKETING = "Marketing"
SERVICE_DESK = "Service desk"

ROLE_PERMISSIONS = {
    DPO: [
        "marketing_lists.view_marketinglist",
        "marketing_lists.view_marketinglistmember",
        "subjects.view_account",
        "subjects.add_account",
        "subjects.change_account",
        "subjects.view_lead",
        "subjects.add_lead",
        "subjects.change_lead",
        "subjects.anonymize_lead",
        "subjects.restrict_lead",
        "subjects.view_contact",
        "subjects.add_contact",
        "subjects.change_contact",
        "subjects.anonymize_contact",
        "subjects.restrict_contact",
        "consent.view_datapolicy",
        "consent.add_datapolicy",
        "consent.change_datapolicy",
        "consent.view_consentlevelsubstatus",
        "consent.add_consentlevelsubstatus",
        "consent.change_consentlevelsubstatus",
        "consent.view_dataconsent",
        "consent.add_dataconsent",
        "consent.change_dataconsent",
        "consent.cancel_dataconsent",
        "consent.view_confidential_dataconsent",
        "consent.view_erasurerecord",
        "consent.view_complianceprofile",
        "consent.add_complianceprofile",
        "consent.change_complianceprofile",
        "consent.delete_complianceprofile",
        "consent.view_purpose",
        "consent.add_purpose",
        "consent.change_purpose",
        "consent.delete_purpose",
        "consent.view_topic",
        "consent.add_topic",
        "consent.change_topic",
        "consent.delete_topic",
        # Notices (DESIGN §3.9): drafts are deleted, published notices never.
        "consent.view_notice",
        "consent.add_notice",
        "consent.change_notice",
        "consent.delete_notice",
        # Contact-point consents are never deleted by hand (only erasure removes them).
        "consent.view_contactpointconsent",
        "consent.add_contactpointconsent",
        "consent.change_contactpointconsent",
        "consent.check_consent",
        "consent.view_suppression",
        "consent.add_suppression",
        "consent.unsuppress",
        # Consent loads: imports and the migration from subjects (DESIGN §3.8).
        "consent.view_consentload",
        "consent.add_consentload",
        # The progress of their own bulk actions run as jobs (issue 15).
        "consent.view_bulkaction",
        # The consent ledger: verify the chain and read its head (DESIGN §3.9).
        "consent.verify_ledger",
        # Data subject requests (DESIGN §3.11): the DPO answers them.
        "consent.view_datasubjectrequest",
        "consent.add_datasubjectrequest",
        "consent.change_datasubjectrequest",
        "consent.delete_datasubjectrequest",
        # Outbound webhooks (DESIGN §3.10): DPO only; redeliver needs change_webhookdelivery.
        "consent.view_webhookendpoint",
        "consent.add_webhookendpoint",
        "consent.change_webhookendpoint",
        "consent.delete_webhookendpoint",
        "consent.view_webhookdelivery",
        "consent.change_webhookdelivery",
        "consent.view_espfeedbackevent",
        # Mint the one-click unsubscribe link of any address (GET /api/v1/unsubscribe-headers/).
        "preference_center.get_unsubscribe_headers",
    ],
    MARKETING: [
        "subjects.view_account",
        "subjects.view_lead",
        "subjects.change_lead",
        "subjects.view_contact",
        "subjects.change_contact",
        "consent.view_datapolicy",
        "consent.view_dataconsent",
        "consent.view_complianceprofile",
        "consent.view_purpose",
        "consent.view_topic",
        "consent.add_topic",
        "consent.change_topic",
        "consent.view_contactpointconsent",
        "consent.add_contactpointconsent",  # record verbal consent
        "consent.change_contactpointconsent",
        "marketing_lists.view_marketinglist",
        "marketing_lists.add_marketinglist",
        "marketing_lists.change_marketinglist",
        "marketing_lists.delete_marketinglist",
        "marketing_lists.view_marketinglistmember",
        "marketing_lists.add_marketinglistmember",
        "marketing_lists.delete_marketinglistmember",
        "consent.check_consent",
        # Marketing migrates its subscription lists and loads consent from campaign tools.
        "consent.view_consentload",
        "consent.add_consentload",
        "consent.view_bulkaction",
    ],
    SERVICE_DESK: [
        "subjects.view_account",
        "subjects.view_lead",
        "subjects.add_lead",
        "subjects.change_lead",
        "subjects.view_contact",
        "subjects.add_contact",
        "subjects.change_contact",
        "consent.view_datapolicy",
        "consent.view_consentlevelsubstatus",
        "consent.view_dataconsent",
        "consent.add_dataconsent",
        "consent.cancel_dataconsent",
        "consent.view_complianceprofile",
        "consent.view_purpose",
        "consent.view_topic",
        # Staff record consent given or withdrawn verbally (DESIGN §3.7).
        "consent.view_contactpointconsent",
        "consent.add_contactpointconsent",
        "consent.change_contactpointconsent",
        "consent.check_consent",
        "consent.view_bulkaction",
        # The service desk takes requests in and follows them; the DPO answers them.
        "consent.view_datasubjectrequest",
        "consent.add_datasubjectrequest",
    ],
}


def sync_roles(apps, schema_editor=None) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migration state apps have no models module; create_permissions needs one set.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            permission = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                group.permissions.add(permission)


def sync_roles_after_migrate(sender, apps=None, **kwargs) -> None:
    from django.apps import apps as global_apps
    from django.db import DEFAULT_DB_ALIAS

    # Once per database: an alias that mirrors another (a read replica in the tests) shares it.
    if sender.name == "consent" and kwargs.get("using", DEFAULT_DB_ALIAS) == DEFAULT_DB_ALIAS:
        sync_roles(apps or global_apps)

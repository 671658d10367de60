"""The subscription lists' part of the consent load's migration mode (DESIGN §3.8).

`manage.py load_consent --from-subjects` builds contact-point consent from the subjects, and
a subscription list's membership becomes an opt-in to the list's purpose / topic. The load
lives in consent, below this app (DESIGN §2), so this app hands it the membership:
`MarketingListsConfig.ready()` registers `subscription_members_sql` with
`settings.CONSENT_MIGRATION_SOURCES`. The load applies its rules (the profile, the
subjects' preferences) to these rows.
"""

from marketing_lists.models import MarketingList, MarketingListMember
from subjects.models import Contact, Lead


def subscription_members_sql() -> str:
    """`SELECT email_key, purpose_id, topic_id, joined_at`: one row per person of an active
    static subscription list (a list with a purpose): the list's contacts, its leads and the
    contacts of its accounts, if active and not anonymized; `email_key` is the person's
    lower-cased email, `joined_at` when the member joined the list."""
    members = MarketingListMember._meta.db_table
    contact, lead = Contact._meta.db_table, Lead._meta.db_table
    active, open_, static = Contact.State.ACTIVE, Lead.Status.OPEN, MarketingList.ListType.STATIC
    people = (
        f"SELECT m.list_id, p.email, m.added_at FROM {members} m "
        f"JOIN {contact} p ON p.id = m.contact_id "
        f"WHERE p.state = '{active}' AND p.anonymized_at IS NULL "
        f"UNION ALL SELECT m.list_id, p.email, m.added_at FROM {members} m "
        f"JOIN {lead} p ON p.id = m.lead_id WHERE p.status = '{open_}' AND p.anonymized_at IS NULL "
        f"UNION ALL SELECT m.list_id, p.email, m.added_at FROM {members} m "
        f"JOIN {contact} p ON p.account_id = m.account_id "
        f"WHERE p.state = '{active}' AND p.anonymized_at IS NULL"
    )
    return (
        f"SELECT LOWER(x.email) AS email_key, l.purpose_id, l.topic_id, x.added_at AS joined_at "
        f"FROM ({people}) x JOIN {MarketingList._meta.db_table} l ON l.id = x.list_id "
        f"WHERE l.active AND l.list_type = '{static}' AND l.purpose_id IS NOT NULL"
    )

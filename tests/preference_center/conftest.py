import pytest
from django.core.cache import cache
from django.urls import reverse

from consent.models import ComplianceProfile, ContactPointConsent, Purpose
from preference_center.tokens import AddressLink, UnsubscribeLink
from tests import factories

BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()  # the counters live in the (process-wide) cache
    yield
    cache.clear()


@pytest.fixture
def profile(db):
    policy = factories.policy(name="Marketing consent", consent_level=4, notice_version="p7")
    return factories.compliance_profile(
        name="Acme news",
        slug="acme",
        sender_name="Acme Stores",
        notice_url="https://acme.example/privacy",
        notice_version="n3",
        intro_text="Pick what interests you.",
        data_policy=policy,
    )


@pytest.fixture
def newsletter(profile):
    """Restrictive commercial purpose with two topics."""
    return factories.purpose(profile=profile, name="Newsletter", required_level=4)


@pytest.fixture
def events(newsletter):
    return factories.topic(purpose_obj=newsletter, name="Events", description="Invitations.")


@pytest.fixture
def product_news(newsletter):
    return factories.topic(purpose_obj=newsletter, name="Product news")


@pytest.fixture
def offers(profile):
    """Non-restrictive commercial purpose without topics (opt-out model on email)."""
    return factories.purpose(
        profile=profile, name="Offers", consent_model=Purpose.ConsentModel.NON_RESTRICTIVE
    )


@pytest.fixture
def service_messages(profile):
    return factories.purpose(
        profile=profile,
        name="Service",
        kind=Purpose.Kind.TRANSACTIONAL,
        consent_model=Purpose.ConsentModel.DISABLED,
    )


@pytest.fixture
def catalog(newsletter, events, product_news, offers, service_messages):
    return {
        "newsletter": newsletter,
        "events": events,
        "product_news": product_news,
        "offers": offers,
        "service": service_messages,
    }


def manage_path(profile: ComplianceProfile, value: str, channel: str = "email") -> str:
    return reverse(
        "preference_center:manage", args=[AddressLink(profile.pk, channel, value).dumps()]
    )


def unsubscribe_path(purpose, value: str, topic=None, channel: str = "email") -> str:
    link = UnsubscribeLink(
        purpose.profile_id, channel, value, purpose.pk, topic.pk if topic else None
    )
    return reverse("preference_center:unsubscribe", args=[link.dumps()])


def status_of(value: str, purpose, topic=None, channel: str = "email") -> str | None:
    record = ContactPointConsent.objects.filter(
        channel=channel, value=value, purpose=purpose, topic=topic
    ).first()
    return record.status if record else None


def row_counts() -> tuple[int, int]:
    """(contact-point consents, their history rows): a GET must leave both unchanged."""
    return ContactPointConsent.objects.count(), ContactPointConsent.history.count()

"""The lead and contact lifecycle (DESIGN §3.1): one table that the services enforce and the
admin buttons and API actions read, so a transition is allowed in exactly one place.

Anonymization is not in the table: it applies to every subject that is not anonymized yet, and
nothing applies to an anonymized one.
"""

from dataclasses import dataclass

from subjects.models import Contact, Lead, Subject


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    field: str  # the state field it moves: a lead's `status`, a contact's `state`
    sources: frozenset[str]  # the states it may start from
    target: str
    warning: str = ""  # shown on the confirmation, when the change has consequences


LEAD_TRANSITIONS = {
    transition.name: transition
    for transition in (
        Transition(
            "qualify", "Qualify", "status", frozenset({Lead.Status.OPEN}), Lead.Status.QUALIFIED
        ),
        Transition(
            "disqualify",
            "Disqualify",
            "status",
            frozenset({Lead.Status.OPEN}),
            Lead.Status.DISQUALIFIED,
        ),
        Transition(
            "reactivate",
            "Reactivate",
            "status",
            frozenset({Lead.Status.QUALIFIED, Lead.Status.DISQUALIFIED}),
            Lead.Status.OPEN,
        ),
    )
}
CONTACT_TRANSITIONS = {
    transition.name: transition
    for transition in (
        Transition(
            "deactivate",
            "Deactivate",
            "state",
            frozenset({Contact.State.ACTIVE}),
            Contact.State.INACTIVE,
            warning="The contact becomes read-only; its consents still expire on their date.",
        ),
        Transition(
            "reactivate",
            "Reactivate",
            "state",
            frozenset({Contact.State.INACTIVE}),
            Contact.State.ACTIVE,
        ),
    )
}
TRANSITIONS: dict[type[Subject], dict[str, Transition]] = {
    Lead: LEAD_TRANSITIONS,
    Contact: CONTACT_TRANSITIONS,
}


def transition_for(subject: Subject, name: str) -> Transition:
    return TRANSITIONS[type(subject)][name]


def may_transition(subject: Subject, name: str) -> bool:
    """Whether the named transition applies to the subject now (the admin shows its button)."""
    if subject.is_anonymized:
        return False
    transition = transition_for(subject, name)
    return getattr(subject, transition.field) in transition.sources

"""Writes on the configuration: compliance profiles, purposes, topics and data policies.

Every save and delete is audited; a delete is refused while records still refer to the row.
"""

import copy

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from common.audit import (
    Source,
    delete_audited,
    stamp,
)
from consent.models import (
    ComplianceProfile,
    DataPolicy,
    Purpose,
    Topic,
)


class ConfigurationConflict(ValidationError):
    """The configuration's current state forbids the change: still in use, the default profile,
    a concurrent default switch (409 in the API)."""


# A purpose stays in its profile and a topic in its purpose: their consent records, lists and
# questions were made under that parent. {model: (parent field, refusal)}
FIXED_PARENTS = {
    Purpose: (
        "profile",
        "A purpose cannot move to another profile; create a purpose there instead.",
    ),
    Topic: ("purpose", "A topic cannot move to another purpose; create a topic there instead."),
}


def _assign_configuration(instance: models.Model, data: dict) -> None:
    fixed = FIXED_PARENTS.get(type(instance))
    if fixed and instance.pk is not None and fixed[0] in data:
        field, refusal = fixed
        new_parent = data[field]
        if getattr(new_parent, "pk", new_parent) != getattr(instance, f"{field}_id"):
            raise ValidationError({field: refusal}, code="fixed_parent")
    for name, value in data.items():
        setattr(instance, name, value)
    instance.full_clean()


def configuration_validate(instance: models.Model, data: dict) -> None:
    """Every check of configuration_save, on a copy: `instance` is left as it is."""
    _assign_configuration(copy.copy(instance), data)


@transaction.atomic
def configuration_save(instance: models.Model, data: dict, *, user, source: str) -> models.Model:
    """Apply `data`, validate the model, save it with who / how / why (purposes, topics)."""
    _assign_configuration(instance, data)
    stamp(instance, user=user, source=source, reason="edited" if instance.pk else "created")
    instance.save()
    return instance


def _blocking_references(model, queryset, depth: int = 0) -> set[str]:
    """What still references the rows of `queryset` through a PROTECT foreign key — theirs or
    that of the rows a delete would cascade to. Existence queries only: a ProtectedError would
    first load every protecting row (millions of consent records) into memory."""
    blocking = set()
    for relation in model._meta.related_objects:
        related = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": queryset}
        )
        if relation.on_delete in (models.PROTECT, models.RESTRICT):
            if related.exists():
                blocking.add(str(relation.related_model._meta.verbose_name_plural))
        elif relation.on_delete is models.CASCADE and depth < 3:
            blocking |= _blocking_references(relation.related_model, related, depth + 1)
    return blocking


def configuration_delete_refusal(instance: models.Model, *, hint: str = "") -> str | None:
    """Why `instance` (a profile, purpose or topic) cannot be deleted, or None if it can."""
    if isinstance(instance, ComplianceProfile) and instance.is_default:
        return "This is the default compliance profile; make another profile the default first."
    blocking = _blocking_references(type(instance), type(instance).objects.filter(pk=instance.pk))
    if blocking:
        name = instance._meta.verbose_name
        return (
            f"This {name} is still used by {', '.join(sorted(blocking))}, so it cannot be "
            f"deleted.{' ' + hint if hint else ''}"
        )
    return None


@transaction.atomic
def configuration_delete(instance: models.Model, *, user, source: str, hint: str = "") -> None:
    """Delete a profile, purpose or topic nothing uses any more (with what cascades from it)."""
    refusal = configuration_delete_refusal(instance, hint=hint)
    if refusal:
        raise ConfigurationConflict(refusal)
    delete_audited(instance, user=user, source=source)


ONE_DEFAULT_MESSAGE = (
    "Exactly one compliance profile is the default: make another profile the default instead."
)


def _assign_profile(profile: ComplianceProfile, data: dict) -> None:
    was_default = profile.pk is not None and profile.is_default
    if was_default and data.get("is_default") is False:
        raise ValidationError({"is_default": ONE_DEFAULT_MESSAGE})
    for name, value in data.items():
        setattr(profile, name, value)
    # The one-default constraint is compliance_profile_save's job; everything else is here.
    profile.full_clean(validate_constraints=False)


def compliance_profile_validate(profile: ComplianceProfile, data: dict) -> None:
    """Every check of compliance_profile_save, on a copy: `profile` is left as it is."""
    _assign_profile(copy.copy(profile), data)


@transaction.atomic
def compliance_profile_save(
    profile: ComplianceProfile, data: dict, *, user, source: str
) -> ComplianceProfile:
    """Save a profile; making it the default switches the default atomically.

    Every profile row is locked first (a short table), so two requests that each make a
    different profile the default run one after the other and the later one wins; the old
    default is unset with its own history row. Unsetting the default itself is refused: there
    is always exactly one.
    """
    _assign_profile(profile, data)
    if profile.is_default:
        list(ComplianceProfile.objects.select_for_update().order_by("pk").values_list("pk"))
        previous = ComplianceProfile.objects.filter(is_default=True).exclude(pk=profile.pk)
        for other in previous:
            other.is_default = False
            stamp(other, user=user, source=source, reason="no longer the default profile")
            other.save(update_fields=["is_default"])
    stamp(profile, user=user, source=source, reason="edited" if profile.pk else "created")
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError as exc:
        # Only a profile created as the default at the very same moment gets here.
        raise ConfigurationConflict(
            "Another compliance profile became the default at the same moment; try again."
        ) from exc
    return profile


@transaction.atomic
def data_policy_save(*, policy: DataPolicy, user=None, source: str = Source.INTERNAL) -> DataPolicy:
    """Create or edit a policy. Existing consents keep the level they were given at."""
    policy.full_clean()
    stamp(policy, user=user, source=source, reason="edited" if policy.pk else "created")
    policy.save()
    return policy


@transaction.atomic
def data_policy_delete(*, policy: DataPolicy, user=None, source: str = Source.INTERNAL) -> None:
    if policy.consents.exists():
        raise ValidationError(
            "Data consents were given under this policy, so it cannot be deleted; "
            "set active to false instead.",
            code="invalid_state",
        )
    stamp(policy, user=user, source=source, reason="deleted")
    policy.delete()

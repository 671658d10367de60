"""Admin pages of the preference center: sending a subject its preference-center link.

Staff on the phone often need the customer to change their own choices: the subject's page
offers "Send preference link", which e-mails the manage link of the subject's address (the
same mail as the public "send me my link" page) and records who sent it in the admin log.
The page is wired into the admin site by config.admin (this app sits above the subjects')."""

from django import forms
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import translation

from consent.models import ComplianceProfile
from preference_center import tasks
from subjects.models import Contact, Lead

SUBJECT_MODELS = {"lead": Lead, "contact": Contact}
SEND_PERMISSION = "consent.change_contactpointconsent"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch")]


class SendLinkForm(forms.Form):
    profile = forms.ModelChoiceField(ComplianceProfile.objects.order_by("name"), empty_label=None)
    language = forms.ChoiceField(choices=LANGUAGES)


def send_link_view(request, site, subject_type: str, object_id: str):
    model = SUBJECT_MODELS.get(subject_type)
    if model is None or not object_id.isascii() or not object_id.isdigit():
        raise Http404
    subject = model.objects.filter(pk=int(object_id), anonymized_at__isnull=True).first()
    if subject is None or not subject.email:
        raise Http404
    if not request.user.has_perm(SEND_PERMISSION):
        raise PermissionDenied
    initial = {
        "profile": ComplianceProfile.objects.default(),
        "language": translation.get_language_from_request(request)[:2],
    }
    form = SendLinkForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        profile, language = form.cleaned_data["profile"], form.cleaned_data["language"]
        tasks.send_manage_link.delay_on_commit(profile.pk, "email", subject.email, language)
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=[subject],
            action_flag=CHANGE,
            change_message=f"Sent a preference-center link ({profile.name}, {language}).",
            single_object=True,
        )
        messages.success(request, f"A preference-center link is on its way to {subject.email}.")
        return redirect(f"admin:subjects_{subject_type}_change", subject.pk)
    context = {
        **site.each_context(request),
        "opts": model._meta,
        "original": subject,
        "title": f"Send {subject} a preference-center link",
        "form": form,
    }
    return TemplateResponse(request, "admin/preference_center/send_link.html", context)

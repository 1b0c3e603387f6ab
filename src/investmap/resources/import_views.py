"""The upload page at /imports/: the same importer as `investmap import`, with a dry run first."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from investmap.core.scope import request_scope

from .importing import CRS_CHOICES, KINDS, accepted_extensions, column_help, import_file

KIND_LABELS = {
    "towns": _("Towns"),
    "parks": _("Parks"),
    "parcels": _("Parcels"),
    "buildings": _("Buildings"),
    "pois": _("Public-service and innovation resources (POIs)"),
    "enterprises": _("Enterprises"),
    "indicators": _("Yearly enterprise indicators"),
    "land-grants": _("Land grants"),
    "teams": _("Promotion teams and members"),
}
CRS_LABELS = {
    "wgs84": _("WGS84 / CGCS2000 lon-lat (GPS, Tianditu)"),
    "gcj02": _("GCJ-02 (AMap, Tencent maps)"),
}
# The page shows at most this many errors; the command line shows them all.
MAX_ERRORS_SHOWN = 1000


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(label=_("File"))
    crs = forms.ChoiceField(
        label=_("Coordinates"),
        choices=[(c, CRS_LABELS[c]) for c in CRS_CHOICES],
        initial="wgs84",
    )

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (k, f"{KIND_LABELS[k]} ({', '.join(accepted_extensions(k))})") for k in kinds
        ]


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request):
    scope = request_scope(request)
    kinds = [k for k in KINDS if scope.can_import(k)]
    context = {"kinds": kinds, "report": None, "help": [], "max_errors": MAX_ERRORS_SHOWN}
    if not kinds:
        return render(request, "resources/import.html", {**context, "form": None}, status=403)
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES, kinds=kinds)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            report = import_file(
                kind=form.cleaned_data["kind"],
                path_or_file=upload,
                filename=upload.name,
                # Anything but the explicit "Import" button is a dry run.
                dry_run=request.POST.get("action") != "import",
                crs=form.cleaned_data["crs"],
                scope=scope,
                user=request.user,
            )
            context["report"] = report
            context["kind_label"] = KIND_LABELS[report.kind]
            context["errors_shown"] = report.errors[:MAX_ERRORS_SHOWN]
    else:
        form = ImportForm(kinds=kinds)
    context["form"] = form
    context["help"] = [{"kind": k, "label": KIND_LABELS[k], **column_help(k)} for k in kinds]
    return render(request, "resources/import.html", context)

"""URL of the upload page; the root urlconf includes it: path("", include("investmap.resources.urls_import"))."""

from django.urls import path

from . import import_views

urlpatterns = [
    path("imports/", import_views.import_page, name="imports"),
]

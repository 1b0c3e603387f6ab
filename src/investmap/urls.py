from django.contrib import admin
from django.urls import include, path

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("investmap.core.urls")),
    path("", include("investmap.resources.urls")),
    path("", include("investmap.resources.urls_import")),
    path("", include("investmap.matching.urls")),
    path("", include("investmap.efficiency.urls")),
    path("", include("investmap.projects.urls")),
    path("", include("investmap.policies.urls")),
]

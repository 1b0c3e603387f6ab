from django.urls import path

from . import views

app_name = "matching"

urlpatterns = [
    path("match/", views.match_page, name="match"),
]

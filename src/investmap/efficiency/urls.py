from django.urls import path

from . import views

app_name = "efficiency"

urlpatterns = [
    path("efficiency/", views.overview, name="overview"),
    path("efficiency/enterprises/<str:credit_code>/", views.enterprise, name="enterprise"),
    path("efficiency/map/", views.map_page, name="grade-map"),
    path("efficiency/land/", views.land, name="land"),
    path("efficiency/rulesets/", views.rulesets, name="rulesets"),
    path("efficiency/rulesets/<str:name>/", views.ruleset_detail, name="ruleset"),
]

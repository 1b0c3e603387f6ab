from django.urls import path

from . import views

app_name = "policies"

# Fixed paths before /policies/<code>/ (a policy code never looks like them).
urlpatterns = [
    path("policies/", views.search_page, name="search"),
    path("policies/digest/", views.digest_page, name="digest"),
    path("policies/enterprises/<str:credit_code>/", views.enterprise_page, name="enterprise"),
    path("policies/<str:code>/", views.policy_page, name="detail"),
]

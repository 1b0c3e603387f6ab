from django.urls import path

from . import views

app_name = "projects"

# Fixed paths before /projects/<code>/ (a code never looks like them: XM2025-0001).
urlpatterns = [
    path("projects/", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/board/", views.board, name="board"),
    path("projects/overview/", views.overview, name="overview"),
    path("projects/alerts/", views.alert_list, name="alerts"),
    path("projects/approvals/", views.approval_list, name="approvals"),
    path("projects/<str:code>/", views.detail, name="detail"),
    path("projects/<str:code>/edit/", views.edit, name="edit"),
    path("projects/<str:code>/move/", views.move, name="move"),
    path("projects/<str:code>/activities/", views.add_activity, name="activity"),
    path("projects/<str:code>/documents/", views.add_document, name="document-add"),
    path("projects/<str:code>/documents/<int:doc_id>/", views.document, name="document"),
    path("projects/<str:code>/capital/", views.add_capital, name="capital"),
    path("projects/<str:code>/site/", views.choose_site, name="site"),
    path("projects/<str:code>/approvals/<int:approval_id>/", views.decide, name="decide"),
    path("projects/<str:code>/sheet.pdf", views.sheet, name="sheet"),
]

from django.urls import path

from . import views

urlpatterns = [
    path("", views.map_page, name="map"),
    path("map/panel/", views.map_panel, name="map-panel"),
    path("map/panel/<str:kind>/<str:code>/", views.map_feature_panel, name="map-feature-panel"),
    path("towns/<str:code>/", views.place_detail, {"level": "town"}, name="town-detail"),
    path("parks/<str:code>/", views.place_detail, {"level": "park"}, name="park-detail"),
]

for _kind, _spec in views.LISTS.items():
    urlpatterns += [
        path(f"{_kind}/", views.resource_list, {"kind": _kind}, name=_spec.list_url),
        path(f"{_kind}/<str:code>/", views.resource_detail, {"kind": _kind}, name=_spec.detail_url),
    ]

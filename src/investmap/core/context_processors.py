from django.conf import settings

from .scope import request_scope


def investmap(request):
    return {
        "district_name": settings.INVESTMAP_DISTRICT_NAME,
        "tile_url": settings.INVESTMAP_TILE_URL,
        "tile_attribution": settings.INVESTMAP_TILE_ATTRIBUTION,
        "scope": request_scope(request),
    }

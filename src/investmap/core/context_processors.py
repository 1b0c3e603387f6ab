from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .models import district_name
from .scope import request_scope


def investmap(request):
    return {
        "district_name": SimpleLazyObject(district_name),
        "tile_url": settings.INVESTMAP_TILE_URL,
        "tile_attribution": settings.INVESTMAP_TILE_ATTRIBUTION,
        "scope": request_scope(request),
    }

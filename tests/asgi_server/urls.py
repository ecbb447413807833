from __future__ import annotations

from django.urls import path

from tests.asgi_server import views

urlpatterns = [
    path("async-dispatch/<str:rid>/", views.async_dispatch),
    path("async-adispatch/<str:rid>/", views.async_adispatch),
    path("sync-dispatch/<str:rid>/", views.sync_dispatch),
]

from __future__ import annotations

from django.urls import path

from tests.gevent_server import views

urlpatterns = [path("<str:view>/<str:key>/", views.route)]

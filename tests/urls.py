from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("dispatch/<str:name>/", views.dispatch_event),
    path("async/dispatch/<str:name>/", views.dispatch_event_async),
    path("async/adispatch/<str:name>/", views.adispatch_event),
]

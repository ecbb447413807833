from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns = [path("dispatch/<str:name>/", views.dispatch_event)]

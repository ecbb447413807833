from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    # No ready() needed: django_events imports shop.events, shop.listeners and
    # shop.observers at start-up (the AUTODISCOVER setting).
    name = "shop"

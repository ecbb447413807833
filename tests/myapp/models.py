from __future__ import annotations

from django.db import models


class Example(models.Model):
    name = models.CharField(max_length=100)


class Unobserved(models.Model):
    """Named by RegisterSignalsFor in signals.py: emits events with no observer."""

    name = models.CharField(max_length=100)

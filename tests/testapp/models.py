"""Models of the test app: every kind of model that model events must handle."""

from __future__ import annotations

import contextvars
import os
import uuid

import django
from django.db import models

from django_events import BulkEventsManager


class Customer(models.Model):
    name = models.CharField(max_length=100)


class Order(models.Model):
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, default="new")
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    data = models.JSONField(default=dict)
    note = models.TextField(blank=True)


class PriorityOrder(Order):
    """A proxy: saving one emits the events of Order, its concrete model."""

    class Meta:
        proxy = True


class Ticket(models.Model):
    """A UUID primary key that is set before the first save."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100)


class Code(models.Model):
    """A CharField primary key set by the client."""

    code = models.CharField(primary_key=True, max_length=20)
    label = models.CharField(max_length=100)


class Place(models.Model):
    name = models.CharField(max_length=100)


class Restaurant(Place):
    """Multi-table inheritance: saving one emits Restaurant's events, not Place's."""

    serves_pizza = models.BooleanField(default=False)


class Unobserved(models.Model):
    name = models.CharField(max_length=100)


class Timestamped(models.Model):
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class HandlerRun(models.Model):
    """What a queued handler did in the task worker; the tests read it from the shared file."""

    handler = models.CharField(max_length=100)
    event = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    attempt = models.IntegerField(default=1)
    pid = models.IntegerField(default=os.getpid)


class Shipment(models.Model):
    """Observed by a queued observer (tests/testapp/queued.py) only."""

    code = models.CharField(max_length=20)


class Note(models.Model):
    """Observed only by registering a typed handler (tests/test_model_events.py)."""

    text = models.CharField(max_length=100)
    tags = models.JSONField(default=list)


class Item(models.Model):
    """Opted in to bulk events: its bulk operations dispatch one batch event per call."""

    sku = models.CharField(max_length=20)
    quantity = models.IntegerField(default=0)
    data = models.JSONField(default=dict)

    objects = BulkEventsManager()


class BulkItem(Item):
    """A proxy of Item: its bulk operations are Item's."""

    class Meta:
        proxy = True


if django.VERSION >= (5, 2):  # pragma: no branch (the oldest pair's Django has no composite keys)

    class Pair(models.Model):
        """A primary key of two columns (Django 5.2+)."""

        pk = models.CompositePrimaryKey("left", "right")
        left = models.IntegerField()
        right = models.IntegerField()
        label = models.CharField(max_length=20)


# -- base managers of their own (tests/test_changes.py) -------------------------------------


class _Distinct(models.Manager["Shelf"]):
    def get_queryset(self) -> models.QuerySet[Shelf]:
        rows: models.QuerySet[Shelf] = super().get_queryset().distinct()
        return rows


class Shelf(models.Model):
    """Its base manager returns distinct rows; its rows are ordered by position."""

    title = models.CharField(max_length=50)
    position = models.IntegerField(default=0)

    objects = models.Manager()
    distinct = _Distinct()

    class Meta:
        base_manager_name = "distinct"
        ordering = ["position"]


#: The tenant a request acts for (None: every tenant, as in a management command).
current_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_tenant", default=None)


class _OfTenant(models.Manager["Account"]):
    def get_queryset(self) -> models.QuerySet[Account]:
        rows = super().get_queryset()
        tenant = current_tenant.get()
        return rows if tenant is None else rows.filter(tenant=tenant)


class Account(models.Model):
    """A multi-tenant model: its base manager shows the current tenant's rows only."""

    tenant = models.CharField(max_length=20)
    name = models.CharField(max_length=50)

    objects = models.Manager()
    of_tenant = _OfTenant()

    class Meta:
        base_manager_name = "of_tenant"


# -- opting in through a proxy, and a manager that needs a scope (tests/test_model_paths.py) -----


class Invoice(models.Model):
    """A plain manager: it opts in to bulk events through its proxy BulkInvoice only."""

    number = models.CharField(max_length=20)


class BulkInvoice(Invoice):
    """A proxy with a manager that makes BulkEventsQuerySets: its bulk calls emit Invoice's events."""

    bulk = BulkEventsManager()

    class Meta:
        proxy = True


#: Whether Scoped's manager insists on a scope (as django-scopes' ScopedManager does).
scopes_enforced: contextvars.ContextVar[bool] = contextvars.ContextVar("scopes_enforced", default=False)


class _ScopedManager(models.Manager["Scoped"]):
    def get_queryset(self) -> models.QuerySet[Scoped]:
        if scopes_enforced.get():
            raise RuntimeError("Scoped.objects used outside of a scope")
        return super().get_queryset()


class Scoped(models.Model):
    """Its default manager raises outside a scope, as django-scopes' managers do."""

    name = models.CharField(max_length=20)

    objects = _ScopedManager()

"""`python manage.py demo`: dispatches events in gevent mode and in sync mode, then runs the
queued handlers' tasks in a real task worker (`manage.py db_worker`, another process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import gevent
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from django_events import Dispatcher, dispatcher
from shop.events import LegacyOrderShipped, OrderPaid
from shop.models import Order


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Show django_events dispatching in gevent mode and in sync mode."

    def handle(self, *args: Any, **options: Any) -> None:
        print(f"== gevent mode (the default): {dispatcher!r}")
        OrderPaid(order_id=1, amount=Decimal("9.99")).dispatch()
        Dispatcher.Dispatch("shop::legacy::hello", "world", greeting="hi")
        print(f"dispatched 2 events; {dispatcher.pending()} wait for the hub")
        print("gevent.sleep(0) gives the hub control, and the worker greenlet runs them:")
        gevent.sleep(0)

        print("a dispatch from another OS thread returns at once (the original hung):")
        thread = threading.Thread(target=lambda: Dispatcher.Dispatch("shop::stock::restocked", 12))
        thread.start()
        thread.join()
        print(f"  the thread ended with {dispatcher.pending()} pending; clear_queue() runs it here:")
        dispatcher.clear_queue()

        print("legacy LegacyOrderShipped.Dispatch(...) returns once its handlers ran:")
        LegacyOrderShipped.Dispatch(7, "DHL")

        print("a failing handler is logged; the event's other handlers still run:")
        Dispatcher.Dispatch("shop::stock::low", "widgets")
        Dispatcher.ClearQueue()

        with override_settings(DJANGO_EVENTS={"MODE": "sync"}):
            print(f"\n== sync mode (DJANGO_EVENTS = {{'MODE': 'sync'}}): {dispatcher!r}")
            print("handlers run before dispatch() returns:")
            OrderPaid(order_id=2, amount=Decimal("20.00")).dispatch()
            Dispatcher.Dispatch("shop::legacy::bye", "world")
            print(f"{dispatcher.pending()} pending")
            self.model_events()
        self.queued_handlers()
        print("\ndemo finished")

    def model_events(self) -> None:
        print("\n== model events: an observer, a regex listener and changes()")
        order = Order.objects.create(customer="ada", total=Decimal("9.99"))
        order.status = "paid"
        order.total = Decimal("12.50")
        order.save()

        print("\n== an after-commit handler (and the usual ones) in a transaction that rolls back:")
        try:
            with transaction.atomic():
                OrderPaid(order_id=order.pk, amount=order.total).dispatch()
                raise Rollback
        except Rollback:
            print("  rolled back: the after-commit handler never ran")

        print("\n== ...and in one that commits:")
        with transaction.atomic():
            OrderPaid(order_id=order.pk, amount=order.total).dispatch()
            print("  (still inside the transaction)")
        print("  committed")

        print("\n== deleting the order:")
        order.delete()

    def queued_handlers(self) -> None:
        waiting = DBTaskResult.objects.ready()
        print(
            "\n== queued handlers: @on(OrderPaid, queue='mail', after_commit=True) ran nowhere yet;"
            f"\n  each committed OrderPaid enqueued a task (none for the rollback): {waiting.count()} "
            "wait in the database"
        )
        print(f"  a task worker runs them: manage.py db_worker --batch (this demo is pid {os.getpid()})")
        manage = Path(__file__).resolve().parents[3] / "manage.py"
        command = [sys.executable, str(manage), "db_worker", "--queue-name", "*", "--batch", "--no-reload"]
        worker = subprocess.run(
            [*command, "--no-startup-delay", "--verbosity", "0"], timeout=120, check=False
        )
        if worker.returncode or waiting.exists():
            raise SystemExit(
                f"the task worker exited {worker.returncode} with tasks left; see its output above"
            )
        statuses = sorted(str(row.status) for row in DBTaskResult.objects.all())
        print(f"  the worker ran them; the database backend recorded {statuses}")
        DBTaskResult.objects.all().delete()  # the next `make demo` starts from none

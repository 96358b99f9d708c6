"""Demo data for a laptop: three retailers with a realistic backlog and three demo users.

Idempotent: clients, users, products and stock are matched by their natural keys, and an
order number that exists already is skipped, so running it again changes nothing.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from clients.models import Client, Membership
from clients.services import membership_set
from inventory import services as inventory
from inventory.demo import seed_replenishment
from inventory.models import Product, StockLevel, Warehouse
from orders import services
from orders.models import Customer, Order
from orders.services import LineInput
from orders.signals import demo_data_seeded

CLIENTS = [
    ("ACME", "Acme Outdoor Gear", "America/New_York", "USD"),
    ("NORD", "Nordlicht Home", "Europe/Berlin", "EUR"),
    ("KIWI", "Kiwi Kids Fashion", "Pacific/Auckland", "NZD"),
]
WAREHOUSES = [("EAST", "East Coast DC"), ("WEST", "West Coast DC"), ("CENT", "Central DC")]
WORDS = [
    "trail",
    "alpine",
    "river",
    "summit",
    "canyon",
    "forest",
    "harbor",
    "meadow",
    "glacier",
    "prairie",
    "coast",
    "ridge",
]
ITEMS = [
    "jacket",
    "boots",
    "tent",
    "backpack",
    "lamp",
    "mug",
    "blanket",
    "scarf",
    "gloves",
    "bottle",
    "stove",
    "chair",
]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Finn",
    "Gita",
    "Hugo",
    "Ines",
    "Jon",
    "Kai",
    "Lea",
    "Mo",
    "Nia",
    "Oli",
    "Pia",
    "Raj",
    "Sue",
    "Tom",
    "Uma",
]
LAST = [
    "Smith",
    "Meyer",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Garcia",
    "Okafor",
    "Tanaka",
    "Silva",
    "Dubois",
    "Jensen",
    "Novak",
]
TIERS = ["standard"] * 70 + ["silver"] * 15 + ["gold"] * 10 + ["vip"] * 5
LEVELS = ["standard"] * 75 + ["expedited"] * 18 + ["overnight"] * 7

DEMO_USERS = [
    ("admin", "admin", "superuser", None),
    ("supervisor", "supervisor", Membership.Role.SUPERVISOR, [c[0] for c in CLIENTS]),
    ("agent", "agent", Membership.Role.AGENT, ["ACME"]),
]


class Command(BaseCommand):
    help = "Create demo clients, stock, customers, a backlog of orders and demo users (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=1200, help="orders per client")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, orders: int, seed: int, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates well-known passwords; it refuses to run with DEBUG=0."
            )
        rng = random.Random(seed)
        warehouses = [
            Warehouse.objects.get_or_create(code=code, defaults={"name": name})[0]
            for code, name in WAREHOUSES
        ]
        created_orders = 0
        started = time.monotonic()
        for code, name, tz, currency in CLIENTS:
            client, _ = Client.objects.get_or_create(
                code=code, defaults={"name": name, "timezone": tz, "currency": currency}
            )
            self._progress(started, f"{code}: products and stock")
            products = self._products(client, rng, warehouses)
            self._progress(started, f"{code}: customers")
            customers = self._customers(client, rng)
            created_orders += self._orders(client, rng, products, customers, orders, started)
            self._backordered_demo_order(client, products, customers)
            self._progress(started, f"{code}: purchase orders and reorder rules")
            self.stdout.write(seed_replenishment(client=client, products=products, rng=rng))
        # Backorders learn when their stock is expected (the late POs above).
        self._progress(started, "expected dates of backorders")
        services.backorders_expected_refresh()
        self._users()
        self._progress(started, "waves, shipments and the rest")
        # Higher apps (fulfillment: carriers, waves, shipments) add theirs on top of the backlog.
        for _receiver, summary in demo_data_seeded.send(sender=Command, rng=rng):
            if summary:
                self.stdout.write(str(summary))
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created_orders} new orders)."))
        self.stdout.write("Log in at http://127.0.0.1:8000/admin/ as:")
        self.stdout.write("  admin / admin            superuser, all clients")
        self.stdout.write("  supervisor / supervisor  supervisor of ACME, NORD and KIWI")
        self.stdout.write("  agent / agent            agent of ACME only")

    def _products(self, client, rng, warehouses) -> list[Product]:
        products = []
        for i in range(1, 61):
            sku = f"{client.code}-{i:04d}"
            product, created = Product.objects.get_or_create(
                client=client,
                sku=sku,
                defaults={
                    "name": f"{rng.choice(WORDS).title()} {rng.choice(ITEMS)}",
                    "unit_cost": Decimal(rng.randint(300, 9000)) / 100,
                },
            )
            products.append(product)
            if not created:
                continue
            # Every 10th SKU is scarce: a few units in one warehouse only.
            scarce = i % 10 == 0
            for w_index, warehouse in enumerate(warehouses):
                if scarce:
                    qty = rng.randint(1, 4) if w_index == 0 else 0
                else:
                    qty = rng.randint(20, 300) if rng.random() < 0.8 else 0
                if qty:
                    inventory.stock_receive(
                        product=product,
                        warehouse=warehouse,
                        quantity=qty,
                        reference="Opening stock",
                    )
                else:
                    StockLevel.objects.get_or_create(
                        product=product, warehouse=warehouse, defaults={"client": client}
                    )
        return products

    def _customers(self, client, rng) -> list[Customer]:
        customers = []
        for i in range(1, 301):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            customer, _ = Customer.objects.get_or_create(
                client=client,
                external_id=f"C{i:05d}",
                defaults={
                    "name": f"{first} {last}",
                    "email": f"{first}.{last}.{i}@example.com".lower(),
                    "tier": rng.choice(TIERS),
                },
            )
            customers.append(customer)
        return customers

    def _progress(self, started: float, what: str) -> None:
        """One line per step, so a long seed shows it is moving (and where)."""
        self.stdout.write(f"[{time.monotonic() - started:5.1f}s] {what}…")
        self.stdout.flush()

    def _orders(self, client, rng, products, customers, count, started) -> int:
        existing = set(Order.objects.filter(client=client).values_list("number", flat=True))
        now = timezone.now()
        new_ids = []
        every = max(1, count // 4)
        for i in range(1, count + 1):
            number = f"{client.code}-{100000 + i}"
            state = random.Random(f"{client.code}{i}")  # per-order, so reruns stay identical
            if i == 1 or i % every == 0:
                self._progress(started, f"{client.code}: orders {i}/{count}")
            if number in existing:
                continue
            customer = state.choice(customers)
            lines = [
                LineInput(
                    product=state.choice(products),
                    quantity=state.choice([1, 1, 1, 2, 2, 3, 5]),
                    unit_price=Decimal(state.randint(500, 25000)) / 100,
                )
                for _ in range(state.choice([1, 1, 2, 2, 3, 4]))
            ]
            # Mostly recent orders, a tail of old ones: some overdue, most on track.
            placed = now - timedelta(
                minutes=min(10 + state.expovariate(1 / (60 * 30)), 60 * 24 * 9)
            )
            order = services.order_create(
                client=client,
                number=number,
                lines=lines,
                customer=customer,
                placed_at=placed,
                service_level=state.choice(LEVELS),
                shipping_total=Decimal("5.90"),
                ship_to={
                    "name": customer.name,
                    "address1": f"{state.randint(1, 999)} {state.choice(WORDS).title()} Street",
                    "city": state.choice(["Springfield", "Riverton", "Lakeside", "Hillview"]),
                    "postcode": f"{state.randint(10000, 99999)}",
                    "country": {"USD": "US", "EUR": "DE", "NZD": "NZ"}[client.currency],
                },
                expedite=state.random() < 0.03,
                source=Order.Source.CSV if state.random() < 0.7 else Order.Source.MANUAL,
                allocate=False,
            )
            new_ids.append(order.pk)
        if not new_ids:
            return 0
        self._progress(started, f"{client.code}: allocating {len(new_ids)} new orders")
        services.orders_allocate_in_priority_order(order_ids=new_ids)
        self._progress(started, f"{client.code}: working some of them (waves, packing, holds)")
        self._work_some(rng, new_ids)
        return len(new_ids)

    def _backordered_demo_order(self, client, products, customers) -> None:
        """One order waiting for a scarce SKU: the replenishment run's PO will cover it."""
        number = f"{client.code}-DEMO-BO"
        if Order.objects.filter(client=client, number=number).exists():
            return
        scarce = next(p for p in products if p.sku.endswith("0020"))
        services.order_create(
            client=client,
            number=number,
            lines=[LineInput(product=scarce, quantity=8, unit_price=Decimal("19.90"))],
            customer=customers[0],
            placed_at=timezone.now() - timedelta(hours=2),
            shipping_total=Decimal("5.90"),
            ship_to={"name": customers[0].name, "address1": "1 Demo Street", "city": "Lakeside"},
        )

    def _work_some(self, rng, order_ids) -> None:
        """Move part of the backlog along, so every queue has something in it."""
        ready = list(
            Order.objects.filter(pk__in=order_ids, status=Order.Status.READY).order_by("pk")
        )
        rng.shuffle(ready)
        for order in ready[: len(ready) // 8]:
            services.order_move(order=order, to_status="picking", note="Demo wave")
        for order in ready[len(ready) // 8 : len(ready) // 6]:
            services.order_move(order=order, to_status="picking", note="Demo wave")
            services.order_move(order=order, to_status="packed", note="Packed at bench 3")
        for order in ready[len(ready) // 6 : len(ready) // 6 + 25]:
            services.order_hold(
                order=order, hold_type="address_check", reason="Customer to confirm the flat number"
            )
        for order in ready[len(ready) // 6 + 25 : len(ready) // 6 + 40]:
            services.order_cancel(order=order, reason="Customer cancelled by e-mail")

    def _users(self) -> None:
        User = get_user_model()
        for username, password, role, codes in DEMO_USERS:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            user.set_password(password)
            if role == "superuser":
                user.is_superuser = user.is_staff = True
                user.save()
                continue
            user.save()
            for code in codes:
                membership_set(user=user, client=Client.objects.get(code=code), role=role)

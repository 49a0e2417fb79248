"""The benchmark's data: N contacts with about 2.5 orders each, as CSV files.

Rows come from the demo generator (core.demo.contact_rows), so the data has
names in several scripts, birthdays, statuses and interests; the same seed
gives the same files.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from core.demo import HEADER, ORDER_HEADER, contact_rows

CONTACT_COLUMNS = HEADER
ORDER_COLUMNS = ORDER_HEADER


def generate(n: int, folder: Path, seed: int = 7, today: dt.date | None = None) -> tuple[Path, Path, int]:
    folder.mkdir(parents=True, exist_ok=True)
    contacts, orders = folder / f"contacts-{n}.csv", folder / f"orders-{n}.csv"
    count_file = folder / f"orders-{n}.count"
    if contacts.exists() and orders.exists() and count_file.exists():  # cached: the same seed gives the same files
        return contacts, orders, int(count_file.read_text())
    today = today or dt.date(2026, 11, 1)
    n_orders = 0
    with contacts.open("w", newline="", encoding="utf-8") as cf, orders.open("w", newline="", encoding="utf-8") as of:
        cw, ow = csv.writer(cf), csv.writer(of)
        cw.writerow(HEADER)
        ow.writerow(ORDER_HEADER)
        for contact, its_orders in contact_rows(n, seed, today):
            cw.writerow(contact)
            ow.writerows(its_orders)
            n_orders += len(its_orders)
    count_file.write_text(str(n_orders))
    return contacts, orders, n_orders

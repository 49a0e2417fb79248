"""Demo data: contacts and orders that look like a real shop's, in several
languages and scripts, and a few example segments to explore.

Rows are generated as the text a CSV file would hold and go through the same
normalisation and set-based upserts as an import, a batch per transaction.
The same seed gives the same data (relative to today's date).
"""
from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from . import clock, config as config_mod
from .audit import Actor
from .contacts import ContactColumns, OrderColumns, upsert_contacts, upsert_orders
from .errors import SegmentaError
from .membership import contacts_changed_in
from .store import write
from .store.models import Contact, OrderTotals

BATCH = 5000

# (weight, country, language, phone prefix, mail domains, female names, male names, last names, regions)
# Names are (as written, in Latin letters for the email address).
CULTURES = [
    (45, "UA", "uk", "+380", ("gmail.com", "ukr.net", "i.ua"),
     [("Олена", "olena"), ("Ірина", "iryna"), ("Наталія", "nataliia"), ("Оксана", "oksana"),
      ("Тетяна", "tetiana"), ("Юлія", "yuliia"), ("Марія", "mariia"), ("Анна", "anna"),
      ("Катерина", "kateryna"), ("Софія", "sofiia"), ("Вікторія", "viktoriia"), ("Дарина", "daryna")],
     [("Олександр", "oleksandr"), ("Андрій", "andrii"), ("Сергій", "serhii"), ("Дмитро", "dmytro"),
      ("Іван", "ivan"), ("Михайло", "mykhailo"), ("Тарас", "taras"), ("Богдан", "bohdan"),
      ("Юрій", "yurii"), ("Максим", "maksym"), ("Володимир", "volodymyr"), ("Євген", "yevhen")],
     [("Шевченко", "shevchenko"), ("Коваленко", "kovalenko"), ("Бондаренко", "bondarenko"),
      ("Ткаченко", "tkachenko"), ("Кравченко", "kravchenko"), ("Олійник", "oliinyk"), ("Мельник", "melnyk"),
      ("Шевчук", "shevchuk"), ("Поліщук", "polishchuk"), ("Бойко", "boiko"), ("Коваль", "koval"),
      ("Лисенко", "lysenko")],
     {"Kyiv": ("Київ", "Київ", "Київ", "Бровари", "Ірпінь", "Бориспіль"), "Lviv": ("Львів", "Львів", "Стрий", "Дрогобич"),
      "Kharkiv": ("Харків",), "Odesa": ("Одеса",), "Dnipro": ("Дніпро", "Кам'янське")}),
    (25, "PL", "pl", "+48", ("gmail.com", "wp.pl", "onet.pl"),
     [("Anna", "anna"), ("Katarzyna", "katarzyna"), ("Małgorzata", "malgorzata"), ("Agnieszka", "agnieszka"),
      ("Zofia", "zofia"), ("Joanna", "joanna"), ("Magdalena", "magdalena")],
     [("Piotr", "piotr"), ("Krzysztof", "krzysztof"), ("Tomasz", "tomasz"), ("Paweł", "pawel"),
      ("Łukasz", "lukasz"), ("Michał", "michal"), ("Jakub", "jakub")],
     [("Nowak", "nowak"), ("Kowalski", "kowalski"), ("Wiśniewski", "wisniewski"), ("Wójcik", "wojcik"),
      ("Kamiński", "kaminski"), ("Lewandowski", "lewandowski"), ("Zieliński", "zielinski"), ("Szymański", "szymanski")],
     {"Warsaw": ("Warszawa", "Warszawa", "Piaseczno"), "Kraków": ("Kraków", "Kraków", "Wieliczka"),
      "Gdańsk": ("Gdańsk", "Gdynia", "Sopot"), "Wrocław": ("Wrocław",)}),
    (15, "GB", "en", "+44", ("gmail.com", "outlook.com", "yahoo.co.uk"),
     [("Emily", "emily"), ("Olivia", "olivia"), ("Sophie", "sophie"), ("Charlotte", "charlotte"), ("Grace", "grace")],
     [("James", "james"), ("Oliver", "oliver"), ("Harry", "harry"), ("Jack", "jack"), ("George", "george")],
     [("Smith", "smith"), ("Jones", "jones"), ("Taylor", "taylor"), ("Brown", "brown"), ("Williams", "williams"),
      ("O'Connor", "oconnor")],
     {"London": ("London",), "Manchester": ("Manchester", "Salford"), "Edinburgh": ("Edinburgh",)}),
    (15, "ES", "es", "+34", ("gmail.com", "hotmail.es", "yahoo.es"),
     [("María", "maria"), ("Lucía", "lucia"), ("Carmen", "carmen"), ("Sofía", "sofia"), ("Paula", "paula")],
     [("José", "jose"), ("Javier", "javier"), ("Alejandro", "alejandro"), ("Álvaro", "alvaro"), ("Hugo", "hugo")],
     [("García", "garcia"), ("Fernández", "fernandez"), ("González", "gonzalez"), ("Rodríguez", "rodriguez"),
      ("López", "lopez"), ("Martínez", "martinez"), ("Sánchez", "sanchez")],
     {"Madrid": ("Madrid", "Madrid", "Alcalá de Henares", "Getafe"), "Barcelona": ("Barcelona", "Badalona"),
      "Andalusia": ("Sevilla", "Málaga", "Córdoba"), "Valencia": ("València",)}),
]
INTERESTS = ("sport", "kids", "travel", "books", "cooking", "music", "fashion", "tech", "garden", "pets", "beauty", "cinema")
INTEREST_WEIGHTS = (14, 12, 12, 10, 9, 9, 8, 8, 5, 6, 4, 3)
ORDERS_PER_CONTACT = (0, 1, 2, 3, 4, 5, 6, 8, 10)
ORDERS_WEIGHTS = (18, 22, 18, 14, 10, 7, 5, 4, 2)  # about 2.5 on average
TIERS = ("gold", "silver", "bronze", "", "")
HEADER = ("email", "phone", "first_name", "last_name", "gender", "birth_date", "country", "region", "city",
          "language", "status", "created_at", "interests", "tier")
ORDER_HEADER = ("order_id", "email", "total", "currency", "created_at")
# One currency, so that order totals add up to something meaningful.
CURRENCY = "EUR"

EXAMPLES = [
    ("Kyiv women", "gender = female and region = Kyiv"),
    ("Big spenders", "orders.total > 1000"),
    ("Birthdays this week", "birthday in next 7 days"),
]
VIP_LIST = "VIP"
VIP_SIZE = 50


@dataclass
class DemoReport:
    contacts: int = 0
    orders: int = 0
    segments: list[dict] = field(default_factory=list)
    skipped: bool = False  # --if-empty on a database with contacts
    seed: int = 1
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"contacts": self.contacts, "orders": self.orders, "segments": self.segments,
                "skipped": self.skipped, "seed": self.seed, "seconds": round(self.seconds, 2)}


def _female_surname(last: str) -> str:
    for end, fem in (("ski", "ska"), ("cki", "cka")):
        if last.endswith(end):
            return last[: -len(end)] + fem
    return last


def contact_rows(n: int, seed: int, today: dt.date, start: int = 0):
    """Yield N demo contacts, each (contact values in HEADER order, its orders in ORDER_HEADER order)."""
    rnd = random.Random(seed)
    weights = [c[0] for c in CULTURES]
    for i in range(start, start + n):
        _, country, lang, prefix, domains, women, men, lasts, regions = rnd.choices(CULTURES, weights)[0]
        roll = rnd.random()
        gender = "female" if roll < 0.49 else "male" if roll < 0.96 else "other" if roll < 0.98 else ""
        names = women if gender == "female" else men if gender == "male" else rnd.choice((women, men))
        first, first_latin = rnd.choice(names)
        last, last_latin = rnd.choice(lasts)
        if gender == "female":
            last = _female_surname(last)
        region = rnd.choice(list(regions))
        city = rnd.choice(regions[region])
        email = f"{first_latin}.{last_latin}{i}@{rnd.choice(domains)}"
        phone = f"{prefix} {rnd.randint(10, 99)} {rnd.randint(100, 999)} {rnd.randint(1000, 9999)}"
        birth = _birth_date(rnd, today)
        status = rnd.choices(("active", "unsubscribed", "bounced"), (88, 8, 4))[0]
        created = today - dt.timedelta(days=rnd.randint(0, 3 * 365))
        k = rnd.choices((0, 1, 2, 3, 4), (15, 30, 30, 17, 8))[0]
        interests = ";".join(sorted(set(rnd.choices(INTERESTS, INTEREST_WEIGHTS, k=k))))
        tier = rnd.choice(TIERS) if rnd.random() < 0.6 else ""
        contact = (email, phone, first, last, gender, birth, country, region, city, lang, status,
                   created.isoformat(), interests, tier)
        orders = []
        span = max((today - created).days, 0)
        for j in range(rnd.choices(ORDERS_PER_CONTACT, ORDERS_WEIGHTS)[0]):
            cents = max(100, round(rnd.lognormvariate(4.2, 1.0) * 100))
            day = created + dt.timedelta(days=rnd.randint(0, span))
            orders.append((f"D{seed}-{i}-{j + 1}", email, f"{cents // 100}.{cents % 100:02d}", CURRENCY, day.isoformat()))
        yield contact, orders


def _birth_date(rnd: random.Random, today: dt.date) -> str:
    roll = rnd.random()
    if roll < 0.08:
        return ""  # not everyone tells
    if roll < 0.085:
        year = rnd.choice([y for y in range(today.year - 70, today.year - 18) if y % 4 == 0 and y % 100 != 0])
        return f"{year}-02-29"
    born = today - dt.timedelta(days=rnd.randint(18 * 365, 75 * 365))
    return born.isoformat()


def has_contacts() -> bool:
    return Contact.select().exists()


def run(n: int = 10_000, *, seed: int = 1, if_empty: bool = False, actor: Actor | None = None,
        cfg=None, progress: Callable[[int, int], None] | None = None, examples: bool = True) -> DemoReport:
    """Fill the database with N demo contacts, their orders, and example segments."""
    cfg = cfg or config_mod.current()
    actor = actor or Actor.local("cli")
    report = DemoReport(seed=seed)
    started = time.monotonic()
    if if_empty and has_contacts():
        report.skipped = True
        return report
    today = clock.today(cfg.tz)
    columns = ContactColumns(HEADER, cfg.custom_fields)
    order_columns = OrderColumns(ORDER_HEADER)
    batch: list = []
    done = 0
    for item in contact_rows(n, seed, today):
        batch.append(item)
        if len(batch) == BATCH:
            report.orders += _write(batch, columns, order_columns, today, actor)
            done += len(batch)
            batch = []
            if progress:
                progress(done, n)
    if batch:
        report.orders += _write(batch, columns, order_columns, today, actor)
        if progress:
            progress(n, n)
    report.contacts = n
    if examples:
        report.segments = _examples(actor, cfg)
    report.seconds = time.monotonic() - started
    return report


def _write(batch, columns: ContactColumns, order_columns: OrderColumns, today: dt.date, actor: Actor) -> int:
    rows = [columns.normalise(contact, line) for line, (contact, _) in enumerate(batch)]
    orders = [order_columns.normalise(o, line) for line, o in enumerate(o for _, os in batch for o in os)]
    with write():
        done = upsert_contacts(rows, columns, today, want_ids=False)
        upsert_orders(orders)
        contacts_changed_in(done.touched, actor, reason="import")
    return len(orders)


def _examples(actor: Actor, cfg) -> list[dict]:
    """The example segments, each made once; the VIP list holds the biggest spenders."""
    from . import segments

    out = []
    for name, condition in EXAMPLES:
        try:
            seg = segments.resolve(name)
        except SegmentaError:
            seg, _ = segments.create_dynamic(name, condition, actor, cfg=cfg)
        out.append({"name": seg.name, "kind": seg.kind, "condition": condition, "members": seg.member_count})
    try:
        vip = segments.resolve(VIP_LIST)
    except SegmentaError:
        vip = segments.create_list(VIP_LIST, actor)
        top = [cid for (cid,) in OrderTotals.select(OrderTotals.contact)
               .order_by(OrderTotals.orders_total.desc(), OrderTotals.contact).limit(VIP_SIZE).tuples()]
        segments.add_contacts(vip, top, actor, "add")
        vip = segments.resolve(vip.id)
    out.append({"name": vip.name, "kind": vip.kind, "condition": None, "members": vip.member_count})
    return out

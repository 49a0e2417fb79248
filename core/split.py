"""Split: divide a segment's members into disjoint lists for A/B tests.

Assignment is by a hash of the seed and the contact id, computed by the
database with integer arithmetic that gives the same numbers on SQLite and
PostgreSQL: the same seed and the same members give the same parts.
With a stratifying field, each part keeps the source's mix of that field to
within one contact per value per part (a matrix rounding, solved by flow).
"""
from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from . import audit, segments
from .audit import Actor
from .bulk import Staging, begin_bulk, wrote_many
from .errors import BadInput, Refused
from .store import database, write
from .store.models import Segment, utcnow

MIN_MEMBERS = 11  # "more than 10 contacts"
WARN_ACTIVE = 2000
MAX_PARTS = 26
MAX_STRATA = 1000
STRATIFY_FIELDS = {
    "gender": "c.gender",
    "status": "c.status",
    "country": "c.country_norm",
    "region": "c.region_norm",
    "city": "c.city_norm",
    "language": "c.language_norm",
}
# Scratch tables of a split: each part's last rank per stratum, and (many ends)
# each part's run of (hash, id) per stratum.
_ENDS = Staging("split_ends", [("stratum", "TEXT"), ("part", "INTEGER"), ("rnk", "BIGINT")],
                joined_on=("stratum", "rnk"))
_RUNS = Staging("split_runs", [("stratum", "TEXT"), ("segment_id", "INTEGER"), ("lo_h", "BIGINT"),
                               ("lo_id", "BIGINT"), ("hi_h", "BIGINT"), ("hi_id", "BIGINT")], joined_on=("stratum",))
CASE_ENDS = 300  # a split's parts' ends (parts × strata) placed by a CASE; more, by a join
_P = 2147483629  # a prime below 2**31: products stay below 2**62 on both backends


@dataclass
class SplitPlan:
    parts: int | None = None
    percents: list[Fraction] | None = None
    counts: list[int] | None = None


@dataclass
class SplitResult:
    source: str
    seed: int
    parts: list[dict] = field(default_factory=list)
    held_out: int = 0
    warning: str | None = None

    def as_dict(self):
        return {"source": self.source, "seed": self.seed, "parts": self.parts,
                "held_out": self.held_out, "warning": self.warning}


def parse_sizes(text: str) -> list[Fraction]:
    """'50/30/20' → percentages."""
    out = []
    for piece in re.split(r"[/,]", str(text)):
        piece = piece.strip().rstrip("%")
        try:
            value = Fraction(Decimal(piece))
        except (InvalidOperation, ValueError):
            raise BadInput(f'"{text}" is not a list of percentages; write it like 50/30/20') from None
        if value <= 0:
            raise BadInput(f"each part needs a positive percentage; {piece}% is not")
        out.append(value)
    return out


def parse_counts(text: str) -> list[int]:
    try:
        out = [int(p.strip()) for p in re.split(r"[,/]", str(text))]
    except ValueError:
        raise BadInput(f'"{text}" is not a list of counts; write it like 100,200') from None
    if any(c <= 0 for c in out):
        raise BadInput("each part needs at least one contact")
    return out


def part_sizes(n: int, plan: SplitPlan) -> tuple[list[int], int]:
    """Sizes of the parts and of the hold-out, for N members."""
    if plan.parts is not None:
        k = plan.parts
        if k < 2:
            raise BadInput("split into at least 2 parts")
        if k > min(MAX_PARTS, n):
            raise BadInput(f"split into at most {min(MAX_PARTS, n)} parts")
        return [n // k + (1 if i < n % k else 0) for i in range(k)], 0
    if plan.counts is not None:
        total = sum(plan.counts)
        if total > n:
            raise Refused(f"the counts add up to {total:,}, more than the {n:,} members")
        if len(plan.counts) > MAX_PARTS:
            raise BadInput(f"split into at most {MAX_PARTS} parts")
        return list(plan.counts), n - total
    shares = plan.percents or []
    total = sum(shares)
    if total > 100:
        raise Refused(f"the percentages add up to {float(total):g}%, over 100%")
    if len(shares) > MAX_PARTS:
        raise BadInput(f"split into at most {MAX_PARTS} parts")
    if total == 100 and len(shares) < 2:
        raise BadInput("100% in one part is the whole segment; give at least two parts or less than 100%")
    with_hold = shares + ([Fraction(100) - total] if total < 100 else [])
    sizes = largest_remainder([n * s / 100 for s in with_hold], n)
    if any(s == 0 for s in sizes[: len(shares)]):
        raise Refused(f"with {n:,} members, a part of {float(min(shares)):g}% would be empty")
    return sizes[: len(shares)], (sizes[-1] if total < 100 else 0)


def largest_remainder(ideal: list[Fraction], total: int) -> list[int]:
    base = [int(x) for x in ideal]  # floor (all are ≥ 0)
    order = sorted(range(len(ideal)), key=lambda i: (-(ideal[i] - base[i]), i))
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def round_matrix(rows: list[int], cols: list[int]) -> list[list[int]]:
    """An integer matrix with the given row and column sums, each cell within
    one of rows[i]*cols[j]/N: round some fractional cells up, chosen as a
    bipartite degree-constrained subgraph (greedy, then augmenting paths)."""
    n = sum(rows)
    R, C = len(rows), len(cols)
    cell = [[rows[i] * cols[j] // n for j in range(C)] for i in range(R)]
    frac = [[(rows[i] * cols[j]) % n != 0 for j in range(C)] for i in range(R)]
    need_r = [rows[i] - sum(cell[i]) for i in range(R)]
    need_c = [cols[j] - sum(cell[i][j] for i in range(R)) for j in range(C)]
    up = [[False] * C for _ in range(R)]
    for i in range(R):
        for j in sorted((j for j in range(C) if frac[i][j]), key=lambda j: -need_c[j]):
            if need_r[i] == 0:
                break
            if need_c[j] > 0:
                up[i][j] = True
                need_r[i] -= 1
                need_c[j] -= 1
    for i in range(R):
        while need_r[i] > 0:
            _augment(i, frac, up, need_c)
            need_r[i] -= 1
    return [[cell[i][j] + up[i][j] for j in range(C)] for i in range(R)]


def _augment(start: int, frac, up, need_c) -> None:
    """Alternating path row → column (round up) → row (give it back) … ending at
    a column that still needs a unit; flip it."""
    R, C = len(up), len(need_c)
    came_from = {}  # column -> row that reached it
    row_via = {start: None}  # row -> column through which it was reached
    queue = [start]
    while queue:
        r = queue.pop(0)
        for j in range(C):
            if not frac[r][j] or up[r][j] or j in came_from:
                continue
            came_from[j] = r
            if need_c[j] > 0:
                need_c[j] -= 1
                while j is not None:  # flip the path back to the start
                    r = came_from[j]
                    up[r][j] = True
                    j = row_via[r]
                    if j is not None:
                        up[r][j] = False
                return
            for k in range(R):
                if up[k][j] and k not in row_via:
                    row_via[k] = j
                    queue.append(k)
    raise AssertionError("no rounding exists")  # impossible: a rounding always exists


def _hash_sql(seed: int, mod: str = "%", column: str = "c.id") -> str:
    """A pseudo-random key per contact (its id in COLUMN) from the seed, in portable
    integer SQL (MOD is "%%" where the driver takes "%" for a placeholder)."""
    a = 1 + seed % (_P - 1)
    b = (seed * 7919 + 12345) % _P
    x = f"((CAST({column} AS BIGINT) * {a} + {b}) {mod} {_P})"
    x = f"(({x} * {x} + 1013904223) {mod} {_P})"
    x = f"(({x} * {x} + {(seed % 1000003) + 97}) {mod} {_P})"
    return x


def split(
    seg: Segment,
    plan: SplitPlan,
    actor: Actor,
    *,
    seed: int | None = None,
    by: str | None = None,
    names: list[str] | None = None,
) -> SplitResult:
    if by is not None:
        by = by.strip().lower()
        if by not in STRATIFY_FIELDS:
            raise BadInput(f'cannot stratify by "{by}"; choose one of {", ".join(STRATIFY_FIELDS)}')
    seed = secrets.randbelow(10**9) if seed is None else int(seed)
    if not 0 <= seed < 2**62:
        raise BadInput("the seed is a whole number from 0")
    db = database.obj
    p = db.param
    with write():
        begin_bulk()
        # The source's members hold still until this commits: a refresh or an add
        # in progress finishes first, and the next one waits for the split.
        segments.lock(seg)
        source = "FROM membership m" + (" JOIN contact c ON c.id = m.contact_id" if by else "")
        members = f"{source} WHERE m.segment_id = {p}"
        stratum = f"COALESCE({STRATIFY_FIELDS[by]}, '')" if by else "''"
        if by:
            strata = db.execute_sql(f"SELECT {stratum}, COUNT(*) {members} GROUP BY 1 ORDER BY 1", (seg.id,)).fetchall()
        else:
            strata = [("", segments.count_members(seg))]
        n = sum(c for _, c in strata)
        if n < MIN_MEMBERS:
            raise Refused(f'"{seg.name}" has {n} contact{"s" if n != 1 else ""}; a split needs more than 10')
        sizes, held_out = part_sizes(n, plan)
        names = _part_names(seg, names, len(sizes))
        if len(strata) > MAX_STRATA:
            raise BadInput(f'"{by}" has {len(strata):,} different values; stratify by a field with fewer')
        active = segments.count_active(seg, up_to=WARN_ACTIVE)
        warning = (
            f"only {active:,} active contacts: A/B results on fewer than {WARN_ACTIVE:,} may be unreliable"
            if active < WARN_ACTIVE else None
        )
        result = SplitResult(seg.name, seed, held_out=held_out, warning=warning)
        labels = string.ascii_uppercase[: len(sizes)]
        parts = [
            segments.create_list(
                name, actor,
                origin={"type": "split", "source_id": seg.id, "source_name": seg.name,
                        "part": labels[i], "seed": seed, "by": by},
            )
            for i, name in enumerate(names)
        ]
        cols = sizes + ([held_out] if held_out else [])
        quotas = round_matrix([c for _, c in strata], cols) if len(strata) > 1 else [cols]
        # Each member's place is its rank within its stratum by the seed's hash (ties
        # by contact id); a part is a run of ranks. Only the last member of each run
        # is looked up — by one ranking that writes nothing — and then each member
        # is placed by comparing its (hash, id) with those, in one pass over the
        # source in contact order: the order the new members' index wants them in.
        # (Writing every member's rank down first and reading it back sorted, once
        # per part, cost 1.5 s more for 880,000 on PostgreSQL.)
        ends = []  # (stratum, part, rank of its last member)
        for (value, _), row in zip(strata, quotas):
            last = 0
            for j, q in enumerate(row[: len(sizes)]):
                last += q
                if q:
                    ends.append((value, j, last))
        key = "m.contact_id" if not by else "c.id"
        mod = "%" if p == "?" else "%%"
        hashed = _hash_sql(seed, mod, key)
        _ENDS.reset()
        _ENDS.load(("stratum", "part", "rnk"), ends)  # analysed: else PostgreSQL sorts the ranks to merge
        ranked = (f"SELECT {stratum} AS stratum, {hashed} AS h, {key} AS contact_id, ROW_NUMBER() OVER "
                  f"(PARTITION BY {stratum} ORDER BY {hashed}, {key}) AS rnk {members}")
        found = db.execute_sql(
            f"SELECT e.stratum, e.part, r.h, r.contact_id FROM ({ranked}) r "
            f"JOIN {_ENDS.name} e ON e.stratum = r.stratum AND e.rnk = r.rnk", (seg.id,)).fetchall()
        if len(found) != len(ends):  # pragma: no cover - the ranks above are exact
            raise AssertionError(f"a split found {len(found)} of its {len(ends)} parts' ends")
        place = _placing(db, found, [x.id for x in parts], f"({hashed}, {key})", stratum if len(strata) > 1 else None)
        written = db.execute_sql(
            f"INSERT INTO membership (segment_id, contact_id, added_at) SELECT {place.segment}, {key}, {p} "
            f"{source}{place.join} WHERE m.segment_id = {p}{place.where}",
            [*place.segment_params, utcnow(), seg.id, *place.where_params],
        ).rowcount
        if written != n - held_out:  # pragma: no cover - the ranks above are exact
            raise AssertionError(f"a split placed {written:,} members, not {n - held_out:,}")
        for j, part in enumerate(parts):
            size = sizes[j]  # the quotas' column sums, by round_matrix
            segments.set_member_count(part, known=size)  # a list this transaction made: no one else wrote it
            segments.born_with(part, size)
            result.parts.append({"id": part.id, "name": part.name, "label": labels[j], "members": size})
        wrote_many("membership", written)
        audit.record(actor, "split", seg, seed=seed, by=by, held_out=held_out,
                     parts=[{"name": x["name"], "members": x["members"]} for x in result.parts])
    return result


def _part_names(seg: Segment, names: list[str] | None, k: int) -> list[str]:
    if names is not None:
        names = [x.strip() for x in names]
        if len(names) != k:
            raise BadInput(f"give {k} names for {k} parts, not {len(names)}")
    else:
        names = [f"{seg.name} — {label}" for label in string.ascii_uppercase[:k]]
    if len({segments.norm(x) for x in names}) != len(names):
        raise BadInput("the parts need different names")
    return names


@dataclass
class _Placing:
    """SQL that sends each member of the source to its part: the part's segment
    id, and what to join and require so that only members of a part are kept."""

    segment: str
    join: str = ""
    where: str = ""
    segment_params: list = field(default_factory=list)
    where_params: list = field(default_factory=list)


def _placing(db, found: list[tuple], part_ids: list[int], me: str, stratum: str | None) -> _Placing:
    """From FOUND, the (stratum, part, hash, id) of each part's last member in each
    stratum: each member (its (hash, id) is ME) goes to the first part of its
    stratum whose last member it does not come after; after the last, to none
    (held out). A CASE over those ends where they are few (by stratum where there
    are several, STRATUM being the SQL of a member's; None: one stratum, all the
    members); else a join with a table of each part's run per stratum. A stratum
    with no end (all of it held out) places none of its members."""
    ends = sorted(found, key=lambda e: (e[0], e[1]))
    by_stratum: dict[str, list[str]] = {}
    for value, j, h, c in ends:
        by_stratum.setdefault(value, []).append(f"WHEN {me} <= ({int(h)}, {int(c)}) THEN {part_ids[j]}")
    if stratum is None:
        (whens,) = by_stratum.values()
        *_, h, c = ends[-1]
        return _Placing(f"CASE {' '.join(whens)} END", where=f" AND {me} <= ({int(h)}, {int(c)})")
    if len(ends) <= CASE_ENDS:
        p = db.param
        seg = f"CASE {stratum} " + " ".join(f"WHEN {p} THEN CASE {' '.join(w)} END" for w in by_stratum.values()) + " END"
        return _Placing(seg, where=f" AND {seg} IS NOT NULL", segment_params=list(by_stratum),
                        where_params=list(by_stratum))
    runs, previous = [], {}
    for value, j, h, c in ends:  # a part's run: after the previous part's end in the stratum, up to its own
        lo_h, lo_id = previous.get(value, (-1, -1))
        runs.append((value, part_ids[j], lo_h, lo_id, int(h), int(c)))
        previous[value] = (int(h), int(c))
    _RUNS.reset()
    _RUNS.load(("stratum", "segment_id", "lo_h", "lo_id", "hi_h", "hi_id"), runs)
    return _Placing("s.segment_id", join=f" JOIN {_RUNS.name} s ON s.stratum = {stratum} "
                    f"AND {me} > (s.lo_h, s.lo_id) AND {me} <= (s.hi_h, s.hi_id)")

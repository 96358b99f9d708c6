"""``field__anyof=[…]``: ``IN`` for long id lists, one array parameter on PostgreSQL.

Django's ``__in`` sends one placeholder per value: for the thousands of ids a batch works on,
preparing every value, quoting it client-side and splitting the query text around each
placeholder cost more Python time than the query itself (docs/benchmarks.md). ``anyof``
sends ``col = ANY(%s)`` with the list as one array on PostgreSQL and a plain ``IN (…)``
elsewhere. Values must already be of the column's type (ints for keys, strings for text);
an empty list matches nothing, as ``__in=[]`` does.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


@ForeignObject.register_lookup  # relations keep their own lookups, apart from Field's
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "anyof"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        placeholders = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs} IN ({placeholders})", [*lhs_params, *self.rhs]

    def as_postgresql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]

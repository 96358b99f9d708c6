"""The only tags and filters a user-editable template may use: Django's default filters and
the harmless default tags (``ALLOWED_TAGS``). Left out: ``debug`` (dumps the context and every
loaded module), ``load`` (no libraries exist anyway), ``url`` (reverses internal URLs),
``csrf_token``, and ``include``/``extends``/``block`` (there is nothing to load)."""

from django.template import Library, defaultfilters, defaulttags

ALLOWED_TAGS = (
    "autoescape",
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
    "if",
    "ifchanged",
    "lorem",
    "now",
    "regroup",
    "resetcycle",
    "spaceless",
    "templatetag",
    "verbatim",
    "widthratio",
    "with",
)

register = Library()
for _name in ALLOWED_TAGS:
    register.tags[_name] = defaulttags.register.tags[_name]
register.filters.update(defaultfilters.register.filters)

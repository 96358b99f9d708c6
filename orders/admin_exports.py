"""The queue's export pages: a form (orders or lines, CSV or XLSX) for the filtered queue the
user was looking at, the file at once for small exports, a job page with progress for large
ones. The rows and files come from ``orders.services.exports``; the queue's filters, search and
client scoping from the order admin's own changelist, so the export is exactly the queue."""

from __future__ import annotations

import copy

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse

from orders.models import ExportJob
from orders.services import exports

CONTENT_TYPES = {
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What", choices=ExportJob.Kind.choices, initial=ExportJob.Kind.ORDERS
    )
    file_format = forms.ChoiceField(
        label="Format",
        choices=ExportJob.Format.choices,
        initial=ExportJob.Format.CSV,
        widget=forms.RadioSelect,
    )
    filters = forms.CharField(widget=forms.HiddenInput, required=False)


class OrderExportViews:
    """Mixed into the order admin: ``get_export_urls`` adds the pages."""

    def get_export_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="orders_order_export"),
            path(
                "export-jobs/<int:job_id>/",
                view(self.export_job_view),
                name="orders_exportjob_page",
            ),
            path(
                "export-jobs/<int:job_id>/status/",
                view(self.export_job_status_view),
                name="orders_exportjob_status",
            ),
            path(
                "export-jobs/<int:job_id>/download/",
                view(self.export_job_download_view),
                name="orders_exportjob_download",
            ),
        ]

    def _queue_order_ids(self, request, filters: str) -> list[int]:
        """The ids of the queue the user sees with these filters (their clients only), in the
        queue's order; at most ``MAX_ORDERS + 1`` (one more tells the export is too big)."""
        queue_request = copy.copy(request)
        queue_request.GET = QueryDict(filters)
        queue_request.POST = QueryDict()
        changelist = self.get_changelist_instance(queue_request)
        queryset = ChangeList.get_queryset(changelist, queue_request)  # without the totals
        return list(queryset.values_list("pk", flat=True)[: exports.MAX_ORDERS + 1])

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ExportForm(request.POST)
        else:
            form = ExportForm(initial={"filters": request.GET.urlencode()})
        if form.is_bound and form.is_valid():
            kind, file_format = form.cleaned_data["kind"], form.cleaned_data["file_format"]
            try:
                ids = self._queue_order_ids(request, form.cleaned_data["filters"])
            except IncorrectLookupParameters:
                form.add_error(None, "The queue's filters are not valid any more.")
            else:
                if not ids:
                    form.add_error(
                        None, "The queue is empty with these filters: nothing to export."
                    )
                elif len(ids) > exports.MAX_ORDERS:
                    form.add_error(
                        None,
                        f"More than {exports.MAX_ORDERS:,} orders: filter the queue further.",
                    )
                elif len(ids) <= exports.INLINE_MAX_ORDERS:
                    rows = (row for _done, row in exports.export_rows(order_ids=ids, kind=kind))
                    content = exports.export_write(rows, file_format=file_format)
                    response = HttpResponse(content, content_type=CONTENT_TYPES[file_format])
                    name = exports.export_filename(kind=kind, file_format=file_format)
                    response["Content-Disposition"] = f'attachment; filename="{name}"'
                    return response
                else:
                    job = exports.export_job_create(
                        user=request.user, order_ids=ids, kind=kind, file_format=file_format
                    )
                    self.message_user(
                        request,
                        f"{len(ids):,} orders: the export is written in the background.",
                        messages.INFO,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:orders_exportjob_page", args=[job.pk])
                    )
        queue_url = reverse("admin:orders_order_changelist")
        filters = form["filters"].value() or ""
        context = {
            **self.admin_site.each_context(request),
            "title": "Export the queue",
            "form": form,
            "opts": self.model._meta,
            "queue_url": f"{queue_url}?{filters}" if filters else queue_url,
            "filtered": bool(filters),
            "inline_max": exports.INLINE_MAX_ORDERS,
        }
        return TemplateResponse(request, "admin/orders/order/export.html", context)

    def _own_job(self, request, job_id: int) -> ExportJob:
        job = ExportJob.objects.filter(pk=job_id, user=request.user).first()
        if job is None:
            raise Http404("No such export.")  # another user's export is simply not there
        return job

    def export_job_view(self, request, job_id):
        job = self._own_job(request, job_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Export {job.pk}",
            "job": job,
            "running": job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/order/export_job.html", context)

    def export_job_status_view(self, request, job_id):
        job = self._own_job(request, job_id)
        return JsonResponse(
            {
                "status": job.status,
                "status_display": job.get_status_display(),
                "percent": job.progress_percent,
                "done_orders": job.done_orders,
                "total_orders": job.total_orders,
                # The progress line the job page shows (static/bpo/job_poll.js).
                "progress_text": f"{job.done_orders} / {job.total_orders} orders",
                "finished": job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED),
            }
        )

    def export_job_download_view(self, request, job_id):
        job = self._own_job(request, job_id)
        if job.status != ExportJob.Status.DONE or not job.file:
            raise Http404("The export is not ready.")
        return FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=job.file.name.rsplit("/", 1)[-1].split("-", 1)[-1],
            content_type=CONTENT_TYPES[job.file_format],
        )

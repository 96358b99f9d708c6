"""Order imports in the admin: upload → preview → confirm, progress for big files, the job list."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    is_supervisor_for,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from orders.exceptions import OrderError
from orders.forms import ImportUploadForm
from orders.importing.formats import NATIVE_COLUMNS
from orders.importing.jobs import (
    BACKGROUND_ROWS,
    can_import,
    import_job_check,
    import_job_confirm,
    import_job_create,
    import_job_discard,
    import_job_resume,
)
from orders.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ClientScopedAdmin):
    """Order imports: upload → preview → confirm, with progress for big files."""

    change_form_template = "admin/orders/importjob/job.html"
    list_display = (
        "created_at",
        "file_name",
        "client",
        "user",
        "status",
        "total_rows",
        "orders_created",
        "orders_skipped",
        "orders_conflict",
        "orders_rejected",
    )
    list_filter = ("status", ClientListFilter)
    list_select_related = ("client", "user")
    search_fields = ("file_name",)
    paginator = BoundedCountPaginator

    def has_module_permission(self, request):
        return request.user.has_perm("orders.import_orders")

    def get_queryset(self, request):
        # Imports are supervisor work: the jobs of the clients the user supervises, not of
        # every client they are a member of (issue #11: roles are per client).
        # (A user without the import permission gets 403 from has_*_permission below.)
        queryset = super().get_queryset(request)
        supervised = supervised_client_ids(request.user)
        if supervised is None or not request.user.has_perm("orders.import_orders"):
            return queryset
        return queryset.filter(client_id__in=supervised)

    def has_view_permission(self, request, obj=None):
        return (
            request.user.has_perm("orders.import_orders")
            and self._in_scope(request, obj)
            and (obj is None or is_supervisor_for(request.user, obj.client_id))
        )

    def has_add_permission(self, request):
        return request.user.has_perm("orders.import_orders")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/", view(self.upload_view), name="orders_importjob_upload"),
            path("template.csv", view(self.template_view), name="orders_importjob_template"),
            path("<int:job_id>/status/", view(self.status_view), name="orders_importjob_status"),
            path("<int:job_id>/confirm/", view(self.confirm_view), name="orders_importjob_confirm"),
            path("<int:job_id>/discard/", view(self.discard_view), name="orders_importjob_discard"),
            path("<int:job_id>/resume/", view(self.resume_view), name="orders_importjob_resume"),
            path(
                "<int:job_id>/rejected.csv",
                view(self.rejected_view),
                name="orders_importjob_rejected",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:orders_importjob_upload"))

    def _job(self, request, job_id) -> ImportJob:
        job = self.get_object(request, str(job_id))  # scoped: 404 for another client's job
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                job = import_job_create(
                    client=form.cleaned_data["client"],
                    user=request.user,
                    upload=form.cleaned_data["file"],
                    requested_format=form.cleaned_data["file_format"],
                )
            except OrderError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(reverse("admin:orders_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import orders",
            "form": form,
            "opts": self.model._meta,
            "columns": NATIVE_COLUMNS,
            "threshold": BACKGROUND_ROWS,
        }
        return TemplateResponse(request, "admin/orders/importjob/upload.html", context)

    def template_view(self, request):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="orders-template.csv"'
        writer = csv.writer(response)
        writer.writerow([name for name, _, _ in NATIVE_COLUMNS])
        example = {
            "order_number": "10001",
            "placed_at": "2024-03-05 14:12:44 -0500",
            "sku": "SKU-1",
            "quantity": "2",
            "unit_price": "19.99",
            "customer_email": "jane@example.com",
            "customer_name": "Jane Doe",
            "service_level": "standard",
            "ship_to_name": "Jane Doe",
            "ship_to_address1": "1 Main St",
            "ship_to_city": "Boston",
            "ship_to_postcode": "02134",
            "ship_to_country": "US",
        }
        writer.writerow([example.get(name, "") for name, _, _ in NATIVE_COLUMNS])
        second = {"order_number": "10001", "sku": "SKU-2", "quantity": "1", "unit_price": "5.00"}
        writer.writerow([second.get(name, "") for name, _, _ in NATIVE_COLUMNS])
        return response

    def status_view(self, request, job_id):
        job = import_job_check(self._job(request, job_id))
        return JsonResponse(
            {
                "status": job.status,
                "status_display": job.get_status_display(),
                "total_rows": job.total_rows,
                "processed_rows": job.processed_rows,
                "percent": job.progress_percent,
                "orders_new": job.orders_new,
                "orders_created": job.orders_created,
                "orders_rejected": job.orders_rejected,
                "orders_conflict": job.orders_conflict,
                "orders_skipped": job.orders_skipped,
                "rows_rejected": job.rows_rejected,
                "message": job.message,
                # The progress line the job page shows (static/bpo/job_poll.js).
                "progress_text": f"{job.processed_rows} / {job.total_rows} rows · "
                f"{job.orders_created} orders created · {job.orders_rejected} rejected",
                "finished": job.status
                in (
                    ImportJob.Status.PREVIEWED,
                    ImportJob.Status.DONE,
                    ImportJob.Status.FAILED,
                    ImportJob.Status.DISCARDED,
                    ImportJob.Status.INTERRUPTED,
                ),
            }
        )

    def _run_job(self, request, job_id, service):
        """POST: run ``service`` (confirm or resume) on the job, report, back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, job_id)
        try:
            job = service(job=job, user=request.user)
        except OrderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if job.status == ImportJob.Status.DONE:
                self.message_user(request, job.message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:orders_importjob_change", args=[job.pk]))

    def confirm_view(self, request, job_id):
        return self._run_job(request, job_id, import_job_confirm)

    def resume_view(self, request, job_id):
        return self._run_job(request, job_id, import_job_resume)

    def discard_view(self, request, job_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, job_id)
        try:
            import_job_discard(job=job, user=request.user)
        except OrderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:orders_importjob_changelist"))

    def rejected_view(self, request, job_id):
        job = self._job(request, job_id)
        if not job.error_report:
            raise Http404("This import has no rejected rows.")
        stem = job.file_name.rsplit(".", 1)[0]
        return FileResponse(
            job.error_report.open("rb"),
            as_attachment=True,
            filename=f"{stem}-rejected.csv",
            content_type="text/csv",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = import_job_check(self._job(request, object_id))  # a dead worker's job: marked
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {job.file_name}",
            "job": job,
            "opts": self.model._meta,
            "running": job.status
            in (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING),
            "can_confirm": job.status == ImportJob.Status.PREVIEWED
            and (job.orders_new > 0)
            and can_import(request.user, job.client),
            "can_resume": job.status == ImportJob.Status.INTERRUPTED
            and can_import(request.user, job.client),
            # Exactly the orders this import created (whatever their status now).
            "queue_url": reverse("admin:orders_order_changelist")
            + f"?import_job={job.pk}&queue=all",
        }
        return TemplateResponse(request, self.change_form_template, context)

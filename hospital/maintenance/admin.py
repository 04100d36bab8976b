"""Admin for every maintenance model. Work-order status, completion and the event log are read-only here:
the lifecycle goes through the board, the work-order page or the API, which keep the audit trail."""

from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .models import (
    DailyUsage,
    FailureModel,
    Forecast,
    ForecastRun,
    MaintenancePlan,
    SafetyNotice,
    UsagePeriod,
    UsageRule,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPart,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed or audit data: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "scope", "interval_days", "interval_hours", "count_from", "risk_class", "active")
    list_filter = ("kind", "active", "count_from", "risk_class", "asset_type__category", "asset_type")
    search_fields = ("name", "asset_type__name", "asset__asset_number", "tasks")
    list_select_related = ("asset_type", "asset")
    autocomplete_fields = ("asset_type",)
    raw_id_fields = ("asset",)
    readonly_fields = ("created_at", "updated_at", "updated_by")
    fieldsets = (
        (None, {"fields": ("name", "kind", "active")}),
        ("Applies to", {"fields": ("asset_type", "asset"),
                        "description": "An asset type (every unit), or one asset: an override that replaces its "
                        "type's plan of the same kind."}),
        ("When", {"fields": ("interval_days", "interval_hours", "count_from"),
                  "description": "With both intervals the work is due at whichever comes first."}),
        ("What", {"fields": ("risk_class", "tasks")}),
        ("Audit", {"fields": ("created_at", "updated_at", "updated_by")}),
    )

    @admin.display(description="Applies to")
    def scope(self, obj):
        return f"asset {obj.asset.asset_number} (override)" if obj.asset_id else f"every {obj.asset_type}"

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class WorkOrderPartInline(admin.TabularInline):
    model = WorkOrderPart
    extra = 0


class WorkOrderEventInline(admin.TabularInline):
    model = WorkOrderEvent
    extra = 0
    can_delete = False
    fields = ("at", "by_name", "from_status", "to_status", "note", "data")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "asset", "kind", "status", "risk_class", "due_date", "due_driver",
                    "assigned_to", "completed_at", "completed_by", "demo")
    list_filter = ("status", "kind", "risk_class", "due_driver", "asset__asset_type", "asset__home_department", "demo")
    search_fields = ("title", "asset__asset_number", "asset__serial_number", "findings", "description",
                     "notice__reference")
    list_select_related = ("asset__asset_type", "assigned_to", "completed_by")
    date_hierarchy = "due_date"
    raw_id_fields = ("asset", "plan", "notice", "previous")
    inlines = (WorkOrderPartInline, WorkOrderEventInline)
    AUDIT = ("status", "started_at", "completed_at", "completed_by", "outcome", "findings", "downtime_hours",
             "status_reason", "deferred_until", "previous", "demo", "created_at", "created_by", "updated_at")
    readonly_fields = AUDIT
    fieldsets = (
        (None, {"fields": ("asset", "kind", "plan", "notice", "title", "description", "tasks")}),
        ("Schedule", {"fields": ("risk_class", "planned_date", "due_date", "due_driver", "assigned_to", "reported_at")}),
        ("Status (change it on the work-order page)", {"fields": AUDIT}),
    )
    actions = ("mark_could_not_locate",)

    @admin.display(description="Number", ordering="pk")
    def number(self, obj):
        return obj.number

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail keeps every work order; cancel instead

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New orders through the service, so they get their "created" event.
        created = services.create_work_order(
            obj.asset, obj.kind, user=request.user, plan=obj.plan, notice=obj.notice, title=obj.title,
            tasks=obj.tasks, description=obj.description, due_date=obj.due_date, planned_date=obj.planned_date,
            due_driver=obj.due_driver, risk_class=obj.risk_class or None, reported_at=obj.reported_at,
            assigned_to=obj.assigned_to, note="Created in the admin.")
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    @admin.action(description="Could not locate (record a failed search)")
    def mark_could_not_locate(self, request, queryset):
        n = 0
        for order in queryset:
            try:
                services.could_not_locate(order, user=request.user, note="Marked in the admin.")
                n += 1
            except services.WorkOrderError as exc:
                self.message_user(request, str(exc.message), messages.WARNING)
        self.message_user(request, f"{n} work orders marked could-not-locate.")


@admin.register(WorkOrderEvent)
class WorkOrderEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "work_order", "from_status", "to_status", "by_name", "note")
    list_filter = ("to_status", "from_status")
    search_fields = ("work_order__title", "work_order__asset__asset_number", "by_name", "note")
    list_select_related = ("work_order",)
    date_hierarchy = "at"


@admin.register(WorkOrderPart)
class WorkOrderPartAdmin(admin.ModelAdmin):
    list_display = ("work_order", "part_number", "description", "quantity")
    list_filter = ("work_order__kind", "work_order__asset__asset_type")
    search_fields = ("part_number", "description", "work_order__asset__asset_number")
    raw_id_fields = ("work_order",)


@admin.register(SafetyNotice)
class SafetyNoticeAdmin(admin.ModelAdmin):
    list_display = ("reference", "title", "kind", "manufacturer", "model", "issued_on", "risk_class", "orders",
                    "applied_at")
    list_filter = ("kind", "risk_class", "manufacturer")
    search_fields = ("reference", "title", "manufacturer", "model")
    readonly_fields = ("created_at", "created_by", "applied_at", "applied_by")
    actions = ("apply",)

    @admin.display(description="Work orders")
    def orders(self, obj):
        return obj.work_orders.count()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Apply: one work order per unit of the model")
    def apply(self, request, queryset):
        for notice in queryset:
            orders = services.apply_safety_notice(notice, user=request.user)
            self.message_user(request, f"{notice.reference}: {len(orders)} work orders created.")


@admin.register(UsageRule)
class UsageRuleAdmin(admin.ModelAdmin):
    list_display = ("room_type", "asset_category_or_all", "mode", "min_dwell_minutes", "note")
    list_filter = ("mode", "asset_category", "room_type")
    search_fields = ("room_type", "note")
    readonly_fields = ("updated_at", "updated_by")

    @admin.display(description="Equipment", ordering="asset_category")
    def asset_category_or_all(self, obj):
        return obj.get_asset_category_display() if obj.asset_category else "any"

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("asset", "date", "hours", "source", "updated_at")
    list_filter = ("source", "asset__asset_type")
    search_fields = ("asset__asset_number",)
    list_select_related = ("asset__asset_type",)
    date_hierarchy = "date"
    raw_id_fields = ("asset",)
    readonly_fields = ("updated_at",)


@admin.register(UsagePeriod)
class UsagePeriodAdmin(ReadOnlyAdmin):
    list_display = ("asset", "start", "end", "hours_display", "room", "mode", "source")
    list_filter = ("source", "mode", "asset__asset_type")
    search_fields = ("asset__asset_number", "room__number")
    list_select_related = ("asset__asset_type", "room")
    date_hierarchy = "start"

    @admin.display(description="Hours")
    def hours_display(self, obj):
        return f"{obj.hours:.2f}"


@admin.register(ForecastRun)
class ForecastRunAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "started_at", "status", "seconds", "n_assets", "n_plans", "orders_created",
                    "orders_updated", "triggered_by")
    list_filter = ("status", "triggered_by")
    search_fields = ("triggered_by", "error")
    date_hierarchy = "started_at"


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyAdmin):
    list_display = ("asset", "plan", "due", "driver", "overdue", "mean_daily_hours", "failure_risk_pct", "flag_text",
                    "as_of")
    list_filter = ("driver", "overdue", "heavy_use", "long_idle", "repeated_repairs", "method", "asset__asset_type")
    search_fields = ("asset__asset_number", "plan__name")
    list_select_related = ("asset__asset_type", "plan")

    @admin.display(description="Failure risk", ordering="failure_risk")
    def failure_risk_pct(self, obj):
        return "—" if obj.failure_risk is None else f"{100 * obj.failure_risk:.1f} %"

    @admin.display(description="Flags")
    def flag_text(self, obj):
        return format_html("{}", obj.flags.replace(",", ", ").replace("_", " ")) if obj.flags else ""


@admin.register(FailureModel)
class FailureModelAdmin(ReadOnlyAdmin):
    list_display = ("asset_type", "shape", "scale_days", "mtbf_days", "n_failures", "n_censored", "method", "flagged",
                    "as_of")
    list_filter = ("method", "flagged")
    search_fields = ("asset_type__name",)

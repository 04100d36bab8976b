"""Admin for environmental monitoring. Audit records (profile changes, alarm events and actions,
delivery attempts) and machine-written data (aggregates, evaluator state) are read-only."""

from django.contrib import admin
from django.db import models, transaction

from .models import (
    Alarm,
    AlarmAction,
    AlarmEvent,
    AlarmFlood,
    AlarmPartition,
    DailyAggregate,
    DeliveryAttempt,
    EscalationPolicy,
    EscalationStep,
    EvaluatorState,
    Excursion,
    MinuteAggregate,
    Notification,
    ProfileChange,
    RollupBacklog,
    RollupState,
    SensorProfileOverride,
    TemperatureLogReview,
    WebhookEndpoint,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Looked at, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MinuteAggregate)
class MinuteAggregateAdmin(ReadOnlyAdmin):
    list_display = ("minute", "sensor", "quantity", "count", "min", "max", "mean")
    list_filter = ("quantity",)
    search_fields = ("sensor__sensor_id", "sensor__name")
    list_select_related = ("sensor",)
    date_hierarchy = "minute"
    show_full_result_count = False


@admin.register(DailyAggregate)
class DailyAggregateAdmin(ReadOnlyAdmin):
    list_display = ("day", "sensor", "quantity", "count", "min", "max", "mean")
    list_filter = ("quantity",)
    search_fields = ("sensor__sensor_id", "sensor__name")
    list_select_related = ("sensor",)
    date_hierarchy = "day"


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "upto", "last_run_at", "rows_last_run")
    list_filter = ("name",)
    search_fields = ("name",)


@admin.register(RollupBacklog)
class RollupBacklogAdmin(ReadOnlyAdmin):
    list_display = ("minute", "sensor", "quantity")
    list_filter = ("quantity",)
    search_fields = ("sensor__sensor_id",)


@admin.register(SensorProfileOverride)
class SensorProfileOverrideAdmin(ReadOnlyAdmin):
    """Overrides change only through the monitoring page, which asks for a reason and audits them."""

    list_display = ("sensor", "profile", "rules", "updated_by", "updated_at")
    list_filter = ("profile",)
    search_fields = ("sensor__sensor_id", "sensor__name")
    list_select_related = ("sensor", "updated_by")


@admin.register(ProfileChange)
class ProfileChangeAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "sensor_label", "changed_by_name", "summary", "reason")
    list_filter = ("changed_at",)
    search_fields = ("sensor_label", "changed_by_name", "reason", "summary")
    date_hierarchy = "changed_at"


@admin.register(EvaluatorState)
class EvaluatorStateAdmin(ReadOnlyAdmin):
    list_display = ("key", "sensor", "gateway", "version", "updated_at")
    list_filter = ("updated_at",)
    search_fields = ("key", "sensor__sensor_id", "gateway__gateway_id")


@admin.register(AlarmPartition)
class AlarmPartitionAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "heartbeat_at")
    list_filter = ("owner",)
    search_fields = ("name", "owner")


class AlarmEventInline(ReadOnlyInline):
    model = AlarmEvent
    fields = ("t", "from_state", "to_state", "priority", "value", "reason", "actor")
    readonly_fields = fields
    ordering = ("-t", "-id")


class AlarmActionInline(ReadOnlyInline):
    model = AlarmAction
    fields = ("created_at", "kind", "username", "text", "until", "status", "result")
    readonly_fields = fields


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdmin):
    list_display = ("title", "rule", "state", "priority", "since", "value", "occurrences", "acknowledged_by",
                    "escalation_level")
    list_filter = ("state", "priority", "rule", "site", "profile")
    search_fields = ("key", "title", "rule", "message")
    list_select_related = ("site",)
    date_hierarchy = "since"
    inlines = [AlarmActionInline, AlarmEventInline]


@admin.register(AlarmEvent)
class AlarmEventAdmin(ReadOnlyAdmin):
    list_display = ("t", "alarm", "from_state", "to_state", "priority", "value", "reason", "actor")
    list_filter = ("to_state", "priority", "is_occurrence", "is_realarm")
    search_fields = ("alarm__key", "alarm__title", "alarm__rule", "reason", "actor")
    list_select_related = ("alarm",)
    date_hierarchy = "t"
    show_full_result_count = False


@admin.register(AlarmAction)
class AlarmActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "alarm", "kind", "username", "text", "status", "applied_at")
    list_filter = ("kind", "status")
    search_fields = ("alarm__key", "alarm__title", "username", "text")
    list_select_related = ("alarm",)
    date_hierarchy = "created_at"


@admin.register(AlarmFlood)
class AlarmFloodAdmin(ReadOnlyAdmin):
    list_display = ("group", "started_at", "ended_at", "count", "headline")
    list_filter = ("group", "site")
    search_fields = ("group", "headline")
    date_hierarchy = "started_at"


@admin.register(Excursion)
class ExcursionAdmin(admin.ModelAdmin):
    list_display = ("sensor", "rule", "started_at", "ended_at", "extreme", "mkt_c", "corrective_action_by")
    list_filter = ("quantity", "priority", "rule")
    search_fields = ("sensor__sensor_id", "sensor__name", "rule", "corrective_action")
    list_select_related = ("sensor", "corrective_action_by")
    date_hierarchy = "started_at"
    fields = ("sensor", "alarm", "rule", "quantity", "kind", "threshold", "priority", "started_at", "alarmed_at",
              "ended_at", "returned_at", "extreme", "extreme_at", "mkt_c", "corrective_action",
              "corrective_action_by", "corrective_action_at")
    readonly_fields = ("sensor", "alarm", "rule", "quantity", "kind", "threshold", "priority", "started_at",
                       "alarmed_at", "ended_at", "returned_at", "extreme", "extreme_at", "mkt_c",
                       "corrective_action_by", "corrective_action_at")

    def has_add_permission(self, request):
        return False  # excursions come from alarms

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if "corrective_action" in form.changed_data:
            from django.utils import timezone

            obj.corrective_action_by, obj.corrective_action_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(TemperatureLogReview)
class TemperatureLogReviewAdmin(ReadOnlyAdmin):
    list_display = ("day", "sensor", "min_c", "max_c", "current_c", "reviewed_by", "reviewed_at")
    list_filter = ("day",)
    search_fields = ("sensor__sensor_id", "sensor__name", "reviewed_by__username", "note")
    list_select_related = ("sensor", "reviewed_by")
    date_hierarchy = "day"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "site", "min_priority", "all_transitions", "max_attempts")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ("enabled", "min_priority", "site")
    search_fields = ("name", "url")
    readonly_fields = ("created_at", "updated_at")


class EscalationStepInline(admin.StackedInline):
    model = EscalationStep
    extra = 0
    filter_horizontal = ("users", "webhooks")


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "site", "min_priority", "profiles")
    list_filter = ("enabled", "min_priority", "site")
    search_fields = ("name",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [EscalationStepInline]


@admin.register(EscalationStep)
class EscalationStepAdmin(admin.ModelAdmin):
    list_display = ("policy", "level", "after_minutes", "group")
    list_filter = ("policy", "level")
    search_fields = ("policy__name", "emails")
    filter_horizontal = ("users", "webhooks")


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("at", "ok", "status_code", "error", "duration_ms")
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "channel", "kind", "target", "subject", "status", "attempts", "sent_at")
    list_filter = ("channel", "kind", "status", "priority")
    search_fields = ("target", "subject", "alarm__key")
    list_select_related = ("alarm",)
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now (failed or retrying notifications)")
    def retry_now(self, request, queryset):
        from django.utils import timezone

        from .choices import DeliveryStatus

        with transaction.atomic():
            n = queryset.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.RETRYING]).update(
                status=DeliveryStatus.RETRYING, next_attempt_at=timezone.now())
        self.message_user(request, f"{n} notification(s) will be retried.")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "notification", "ok", "status_code", "error", "duration_ms")
    list_filter = ("ok", "status_code")
    search_fields = ("notification__target", "error")
    list_select_related = ("notification",)
    date_hierarchy = "at"

"""Runbook executions: launch with parameters, status, output since an offset (so a client can follow it), cancel.
The launch goes through runbooks.services.execution_launch, with every check of the admin's Run page."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.choices import TokenScope
from api.framework import OpsAPIView
from api.pagination import CursorPagination, paginated
from maintenance.models import MaintenanceWindow
from runbooks import services
from runbooks.choices import FINAL_STATUSES, ExecutionStatus, LaunchChannel, StepStatus
from runbooks.models import ExecutionStep, Host, Runbook, RunbookExecution

P_VIEW = "runbooks.view_runbookexecution"


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExecutionStep
        fields = [
            "order",
            "task",
            "kind",
            "label",
            "command",
            "status",
            "started_at",
            "finished_at",
            "exit_code",
            "error",
        ]


class ExecutionSerializer(serializers.ModelSerializer):
    runbook = serializers.CharField(source="runbook.slug")
    host = serializers.CharField(source="host.name")
    window = serializers.SerializerMethodField()
    final = serializers.SerializerMethodField()
    steps = StepSerializer(many=True)

    class Meta:
        model = RunbookExecution
        fields = [
            "id",
            "runbook",
            "runbook_name",
            "host",
            "window",
            "status",
            "final",
            "requested_by_name",
            "requested_at",
            "requested_via",
            "justification",
            "outside_window",
            "started_at",
            "finished_at",
            "cancel_requested_at",
            "error",
            "result",
            "steps",
        ]

    def get_window(self, obj) -> str | None:
        return obj.window.public_id if obj.window_id else None

    def get_final(self, obj) -> bool:
        return obj.status in FINAL_STATUSES


class LaunchSerializer(serializers.Serializer):
    runbook = serializers.SlugRelatedField(slug_field="slug", queryset=Runbook.objects.all(), help_text="Runbook slug")
    host = serializers.SlugRelatedField(slug_field="name", queryset=Host.objects.all(), help_text="Host name")
    window = serializers.SlugRelatedField(
        slug_field="public_id", queryset=MaintenanceWindow.objects.all(), required=False, allow_null=True
    )
    parameters = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True),
        required=False,
        help_text="Overrides of step parameters (applied to every step that declares them).",
    )
    justification = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    expected_digest = serializers.CharField(required=False, allow_blank=True, max_length=100)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class OutputSerializer(serializers.Serializer):
    offset = serializers.IntegerField(help_text="Where `text` starts in the whole output.")
    next_offset = serializers.IntegerField(help_text="Ask again from here to follow the output.")
    text = serializers.CharField()
    status = serializers.CharField()
    final = serializers.BooleanField(help_text="True when the execution ended: no more output will come.")
    exit_code = serializers.IntegerField(allow_null=True, help_text="Exit code of the last step that ended.")


def execution_log(steps) -> str:
    """The execution's output as one append-only text: each step's header and stdout as it grows; its stderr and exit
    code once it ended (so earlier text never changes while later steps run)."""
    parts = []
    for step in steps:
        parts.append(f"==> step {step.order}: {step.label}\n")
        if step.command:
            parts.append(f"$ {step.command}\n")
        parts.append(step.stdout)
        if step.status != StepStatus.RUNNING:
            if step.stdout and not step.stdout.endswith("\n"):
                parts.append("\n")
            if step.stderr:
                parts.append(step.stderr if step.stderr.endswith("\n") else step.stderr + "\n")
            parts.append(
                f"<== {step.status}" + (f" (exit {step.exit_code})" if step.exit_code is not None else "") + "\n"
            )
    return "".join(parts)


def _executions():
    return RunbookExecution.objects.select_related("runbook", "host", "window").prefetch_related("steps")


def _execution(execution_id: int) -> RunbookExecution:
    return get_object_or_404(_executions(), pk=execution_id)


class ExecutionListView(OpsAPIView):
    read_perms = (P_VIEW,)
    write_scope = TokenScope.RUNBOOKS

    @extend_schema(
        operation_id="executions_list",
        parameters=[
            OpenApiParameter("status", str, enum=ExecutionStatus.values),
            OpenApiParameter("runbook", str, description="Runbook slug"),
            OpenApiParameter("host", str, description="Host name"),
        ],
        responses=paginated(ExecutionSerializer),
    )
    def get(self, request):
        qs = _executions()
        status = request.query_params.get("status")
        if status:
            if status not in ExecutionStatus.values:
                raise serializers.ValidationError({"status": [f"Choose one of {', '.join(ExecutionStatus.values)}."]})
            qs = qs.filter(status=status)
        if request.query_params.get("runbook"):
            qs = qs.filter(runbook__slug=request.query_params["runbook"])
        if request.query_params.get("host"):
            qs = qs.filter(host__name=request.query_params["host"])
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(ExecutionSerializer(page, many=True).data)

    @extend_schema(operation_id="executions_launch", request=LaunchSerializer, responses={201: ExecutionSerializer})
    def post(self, request):
        serializer = LaunchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        execution = services.execution_launch(
            actor=request.user,
            runbook=data["runbook"],
            host=data["host"],
            window=data.get("window"),
            justification=data.get("justification", ""),
            overrides=data.get("parameters") or None,
            expected_digest=data.get("expected_digest") or None,
            via=LaunchChannel.API,
        )
        response = Response(ExecutionSerializer(_execution(execution.pk)).data, status=201)
        response["Location"] = request.build_absolute_uri(f"/api/ops/v1/executions/{execution.pk}")
        return response


class ExecutionDetailView(OpsAPIView):
    read_perms = (P_VIEW,)

    @extend_schema(operation_id="executions_retrieve", responses=ExecutionSerializer)
    def get(self, request, execution_id: int):
        return Response(ExecutionSerializer(_execution(execution_id)).data)


class ExecutionOutputView(OpsAPIView):
    """The output from `offset` on (characters): poll with `next_offset` until `final` is true."""

    read_perms = (P_VIEW,)

    @extend_schema(
        operation_id="executions_output",
        parameters=[OpenApiParameter("offset", int, description="Start of the text to return (default 0).")],
        responses=OutputSerializer,
    )
    def get(self, request, execution_id: int):
        offset = serializers.IntegerField(min_value=0, max_value=2**62).run_validation(
            request.query_params.get("offset", "0")
        )
        execution = get_object_or_404(RunbookExecution, pk=execution_id)
        steps = list(ExecutionStep.objects.filter(execution=execution).order_by("order", "id"))
        text = execution_log(steps)
        ended = [s for s in steps if s.status != StepStatus.RUNNING and s.exit_code is not None]
        return Response(
            {
                "offset": min(offset, len(text)),
                "next_offset": len(text),
                "text": text[offset:],
                "status": execution.status,
                "final": execution.status in FINAL_STATUSES,
                "exit_code": ended[-1].exit_code if ended else None,
            }
        )


class ExecutionCancelView(OpsAPIView):
    write_scope = TokenScope.RUNBOOKS

    @extend_schema(operation_id="executions_cancel", request=CancelSerializer, responses=ExecutionSerializer)
    def post(self, request, execution_id: int):
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        execution = _execution(execution_id)
        services.execution_cancel(
            actor=request.user, execution=execution, reason=serializer.validated_data.get("reason", "")
        )
        return Response(ExecutionSerializer(_execution(execution_id)).data)

"""The study's URLs."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from itpcohort.study import dashboard as monitoring_views
from itpcohort.study import inbox, queries, signoff, views
from itpcohort.study.timelines import patient_response, patient_timeline_svg

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", monitoring_views.dashboard, name="dashboard"),
    path("dashboard/refresh/", monitoring_views.dashboard_refresh, name="dashboard_refresh"),
    path("dashboard/<str:name>.svg", monitoring_views.dashboard_figure, name="dashboard_figure"),
    path("report/", monitoring_views.report_zip, name="report"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("patients/", views.patient_list, name="patients"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<str:pid>/", views.patient_page, name="patient"),
    path(
        "patients/<str:pid>/screening/",
        views.patient_edit,
        {"part": "screening"},
        name="patient_screening",
    ),
    path(
        "patients/<str:pid>/baseline/",
        views.patient_edit,
        {"part": "baseline"},
        name="patient_baseline",
    ),
    path("patients/<str:pid>/identity/", views.identity_edit, name="identity"),
    path("patients/<str:pid>/visit/", views.visit_new, name="visit_new"),
    path("patients/<str:pid>/response/", patient_response, name="patient_response"),
    path(
        "patients/<str:pid>/timeline.svg",
        patient_timeline_svg,
        name="patient_timeline_svg",
    ),
    path("patients/<str:pid>/audit/", views.patient_audit, name="patient_audit"),
    path(
        "patients/<str:pid>/audit.csv",
        views.patient_audit,
        {"as_csv": True},
        name="patient_audit_csv",
    ),
    path("patients/<str:pid>/queries/new/", queries.query_new, name="query_new"),
    path("patients/<str:pid>/<str:kind>/new/", views.record_new, name="record_new"),
    path("patients/<str:pid>/<str:kind>/<int:pk>/", views.record_edit, name="record_edit"),
    path(
        "patients/<str:pid>/<str:kind>/<int:pk>/delete/", views.record_delete, name="record_delete"
    ),
    path("patients/<str:pid>/<str:kind>/<int:pk>/audit/", views.record_audit, name="record_audit"),
    path("patients/<str:pid>/delete/", views.patient_delete, name="patient_delete"),
    path("patients/<str:pid>/sign/", signoff.sign_view, name="casebook_sign"),
    path("patients/<str:pid>/unlock/", signoff.unlock_view, name="casebook_unlock"),
    path("queries/", queries.query_list, name="queries"),
    path("queries/<int:qid>/", queries.query_detail, name="query"),
    path("queries/<int:qid>/<str:action>/", queries.query_step, name="query_step"),
    path("audit.csv", views.study_audit_csv, name="study_audit_csv"),
    path("export/", views.export_zip, name="export"),
    path("check/<str:kind>/", views.field_check, name="field_check"),
    path("alerts/", inbox.inbox, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", inbox.acknowledge, name="alert_acknowledge"),
    path("admin/", admin.site.urls),
]

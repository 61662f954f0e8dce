"""Admin pages for administrators: sites, roles, the study's settings, the access log.

Clinical data is not here: it is entered and changed through the study's own
forms (edit checks, reasons, versions). Everything changed here is audited by the
same triggers; the access log is read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from itpcohort.study.models import AccessEvent, Member, Site, StudySettings


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "all_sites")
    list_filter = ("role", "all_sites")
    filter_horizontal = ("sites",)


@admin.register(StudySettings)
class StudySettingsAdmin(admin.ModelAdmin):
    list_display = ("name", "study_drug", "criteria")

    def has_add_permission(self, request: Any) -> bool:
        return not StudySettings.objects.exists()

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "username", "ip", "by", "detail")
    list_filter = ("kind",)
    search_fields = ("username", "ip")

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.has_perm("study.manage_study")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

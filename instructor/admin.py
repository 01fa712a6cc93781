from django.contrib import admin

from instructor.models import Cohort, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["learner"]
    readonly_fields = ["joined_at"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "join_code", "created_at"]
    search_fields = ["name", "owner__username", "join_code"]
    readonly_fields = ["join_code", "created_at"]
    raw_id_fields = ["owner"]
    inlines = [MembershipInline]

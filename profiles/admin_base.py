"""Admin building blocks every app shares (imported downwards only)."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by services only: the admin reads it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

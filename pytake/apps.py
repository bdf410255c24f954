from django.contrib.admin.apps import AdminConfig


class PyTakeAdminConfig(AdminConfig):
    """Replaces the default admin site with the tenant-aware one, so every app registers there."""

    default_site = "pytake.admin_site.PyTakeAdminSite"

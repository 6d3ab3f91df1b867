from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.contrib import admin

        from accounts.admin_login import AdminLoginForm

        admin.site.login_form = AdminLoginForm

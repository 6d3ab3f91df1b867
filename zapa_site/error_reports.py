"""Error reports (DEBUG pages, 500 e-mails) that never show a secret.

Django hides settings whose names look secret, and only the frame variables a
function lists in @sensitive_variables. This filter applies the settings rule to
every frame variable and POST parameter too, recursively into dicts, so a local
named `api_key`, `code` or `token` is hidden wherever it lives, decorated or not.
"""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretScrubbingReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|PEPPER|CREDENTIAL|AUTHORIZATION|PLAINTEXT|(^|_)CODE$",
        flags=re.IGNORECASE,
    )

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]

    def get_post_parameters(self, request):
        params = super().get_post_parameters(request)
        if not params or not hasattr(params, "copy"):
            return params
        cleansed = params.copy()
        for name in list(cleansed):
            if self.hidden_settings.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

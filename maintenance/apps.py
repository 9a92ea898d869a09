from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance"

    def ready(self):
        from ersen_ops.status.sources import register_component_source
        from maintenance.public_status import SOURCE

        register_component_source(SOURCE)  # status reads what maintenance does to the components' public status

        from ersen_ops.notifications.reliance import register_reliance
        from maintenance.policy import channel_reliances

        register_reliance(channel_reliances)  # the control room and ops_doctor warn about unset channels

        from ersen_ops.core.people import PersonPage, register_person_page

        # A named owner or on-call engineer links to the windows they own or are on call for.
        register_person_page(
            PersonPage(
                label="windows",
                url_name="admin:maintenance_maintenancewindow_changelist",
                permission="maintenance.view_maintenancewindow",
                title="Maintenance windows {name} owns or is on call for",
            )
        )

        from ersen_ops.notifications.channels import register_personal_email_event

        # The request to confirm being on call goes to the on-call engineer only, not the team list.
        from maintenance.choices import WindowEvent

        register_personal_email_event(WindowEvent.ON_CALL_REQUESTED)

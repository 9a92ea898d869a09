from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from ersen_ops.status.sources import register_component_source
        from incidents.public_status import SOURCE

        register_component_source(SOURCE)  # status reads what incidents does to the components' public status

        from ersen_ops.notifications.reliance import register_reliance
        from incidents.policy import channel_reliances

        register_reliance(channel_reliances)  # the control room and ops_doctor warn about unset channels

        from ersen_ops.core.people import PersonPage, register_person_page

        register_person_page(
            PersonPage(
                label="incidents",
                url_name="admin:incidents_incident_changelist",
                permission="incidents.view_incident",
                title="Incidents {name} commands",
            )
        )

        from incidents import window_hooks

        window_hooks.register()  # the post-maintenance summary lists the window's incidents (maintenance.registry)

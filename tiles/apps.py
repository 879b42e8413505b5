from django.apps import AppConfig


class TilesConfig(AppConfig):
    name = "tiles"
    verbose_name = "Tiles"

    def ready(self) -> None:
        from geoportal.postgis.base import before_commit_register

        from .publication import before_commit

        before_commit_register(before_commit)

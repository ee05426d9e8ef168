from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self):
        """Recommendations' one link to ingest: its two hooks (ingest/hooks.py)."""
        from ingest import hooks
        from recommendations import signals  # noqa: F401  (connects what-changed receivers)
        from recommendations.outbox import refresh_pending

        hooks.register_drain(refresh_pending)

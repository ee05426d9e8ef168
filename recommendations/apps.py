from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self):
        """Recommendations' one link to ingest: its two hooks (ingest/hooks.py)."""
        from ingest import hooks
        from recommendations import signals
        from recommendations.drainer import wake_drainer
        from recommendations.outbox import refresh_pending

        hooks.events_written.connect(signals.events_stored)
        hooks.bets_changed.connect(signals.bets_stored)
        hooks.register_drain(refresh_pending, wake=wake_drainer)

from betreco.routing import slash_optional
from status import views

urlpatterns = [
    *slash_optional("status.json", views.status_json, "status-json"),
    *slash_optional("status", views.status_page, "status"),
]

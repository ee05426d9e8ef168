from betreco.routing import slash_optional
from ingest import apis

urlpatterns = [
    *slash_optional("users", apis.UserListCreateApi.as_view(), "user-list"),
    *slash_optional("users/<id:user_id>", apis.UserDetailApi.as_view(), "user-detail"),
    *slash_optional("events", apis.EventListCreateApi.as_view(), "event-list"),
    *slash_optional("events/<id:event_id>", apis.EventDetailApi.as_view(), "event-detail"),
    *slash_optional("coupons", apis.CouponListCreateApi.as_view(), "coupon-list"),
    *slash_optional("coupons/<id:coupon_id>", apis.CouponDetailApi.as_view(), "coupon-detail"),
    *slash_optional("coupons/user/<id:user_id>", apis.UserCouponsApi.as_view(), "user-coupons"),
    *slash_optional("healthz", apis.HealthApi.as_view(), "healthz"),
    *slash_optional("readyz", apis.ReadinessApi.as_view(), "readyz"),
]

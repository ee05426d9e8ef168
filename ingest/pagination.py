from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M` (at most 500 a page; more is cut to 500).

    A `page_size` that is no positive integer is a 400 naming it, where
    DRF would silently fall back to the default size.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value not in (None, ""):
            try:
                if int(value) < 1:
                    raise ValueError(value)
            except ValueError:
                raise serializers.ValidationError(
                    {self.page_size_query_param: ["Must be a positive integer."]}
                ) from None
        return super().get_page_size(request)

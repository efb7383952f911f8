from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from audit import resolvers
        from reviews.labels import review_item_text_from_details

        # The console words a decided item in the auditor's language; audit imports no
        # app (audit/resolvers.py).
        resolvers.register(review_item=review_item_text_from_details)

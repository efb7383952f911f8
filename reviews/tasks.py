from celery import shared_task

from reviews import services


@shared_task(ignore_result=True)
def access_reviews_open() -> int:
    return services.access_reviews_open()


@shared_task(ignore_result=True)
def access_reviews_escalate() -> int:
    return services.access_reviews_escalate()

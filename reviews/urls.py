from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.review_list, name="reviews"),
    path("<int:review_id>/", views.review_detail, name="review"),
    path("<int:review_id>/items/<int:item_id>/", views.item_decide, name="item_decide"),
    path("<int:review_id>/export.csv", views.review_export, name="review_export"),
]

from django.urls import URLPattern, URLResolver, path

from privacy import views

app_name = "privacy"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.my_data, name="my_data"),
    path("export.zip", views.my_data_export, name="my_data_export"),
    path("people/", views.person_list, name="people"),
    path("people/<int:person_id>/", views.person_detail, name="person"),
    path("people/<int:person_id>/export.zip", views.person_export, name="person_export"),
    path("people/<int:person_id>/erase/", views.person_erase, name="person_erase"),
]

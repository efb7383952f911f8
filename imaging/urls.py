from django.urls import path

from imaging import views

app_name = "imaging"

urlpatterns = [
    path("studies/", views.study_list, name="studies"),
    path("studies/<int:study_id>/", views.study_detail, name="study"),
    path("studies/<int:study_id>/share/", views.study_share, name="study_share"),
    path("deidentify/<int:job_id>/", views.deidentify_job, name="deidentify_job"),
    path("instances/<int:instance_id>/", views.instance_content, name="instance"),
]

from django.urls import path

from audit import questions, views

app_name = "audit"

urlpatterns = [
    path("", questions.home, name="home"),
    path("file/", questions.file_history, name="question_file"),
    path("file/access/", questions.access_now, name="question_access"),
    path("person/", questions.person_activity, name="question_person"),
    path("outside/", questions.outside, name="question_outside"),
    path("failures/", questions.failures, name="question_failures"),
    path("report/", questions.report, name="report"),
    path("explore/", views.event_list, name="events"),
    path("events/<int:sequence>/", views.event_detail, name="event"),
    path("events/<int:sequence>/inclusion.json", views.inclusion_proof, name="inclusion_proof"),
    path("target/<str:target_type>/<str:target_id>/", views.target_history, name="target"),
    path("actor/<str:actor_id>/", views.actor_activity, name="actor"),
    path("export.<str:export_format>.sig", views.export_signature, name="export_signature"),
    path("export.<str:export_format>", views.export, name="export"),
    path("integrity/", views.integrity, name="integrity"),
    path("integrity/verify/", views.integrity_verify, name="integrity_verify"),
    path("alerts/", views.alert_list, name="alerts"),
    path("checkpoints/<int:tree_size>.txt", views.checkpoint_file, name="checkpoint"),
    path("consistency.json", views.consistency_proof, name="consistency_proof"),
    path("keys/securedrive-audit.<str:key_format>", views.public_key, name="public_key"),
]

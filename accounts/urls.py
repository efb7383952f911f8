from django.urls import path

from accounts.views import auth

app_name = "accounts"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("setup/<uidb64>/<token>/", auth.SetupView.as_view(), name="setup"),
]

from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("link/", views.link_confirm, name="link_confirm"),
    path("account-link/<str:token>/", views.account_link_page, name="account_link"),
    path("users/<int:user_id>/account-link/", views.account_link_send, name="account_link_send"),
    path(
        "<slug:slug>/account-link/", views.account_link_sign_in_start, name="account_link_sign_in"
    ),
    path("<slug:slug>/login/", views.sign_in_start, name="sign_in"),
    path("<slug:slug>/invitation/", views.invitation_sign_in_start, name="invitation_sign_in"),
    path("<slug:slug>/confirm/", views.reauth_start, name="reauth"),
    path("<slug:slug>/again/", views.sign_in_again, name="sign_in_again"),
    path("<slug:slug>/callback/", views.callback, name="callback"),
    path("<slug:slug>/backchannel-logout/", views.backchannel_logout, name="backchannel_logout"),
]

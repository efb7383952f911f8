// Once django-otp-webauthn's script has registered a passkey, send its name to the
// server and move on (the package only reports success on the page). A static file:
// the Content-Security-Policy allows no inline script.
"use strict";

document.addEventListener("otp_webauthn.register_complete", (event) => {
  const form = document.getElementById("passkey-added-form");
  const nameInput = document.getElementById("passkey-name");
  if (!form || !event.detail || !event.detail.id) {
    return;
  }
  form.elements.namedItem("device").value = event.detail.id;
  form.elements.namedItem("name").value = nameInput ? nameInput.value : "";
  form.submit();
});

"""Optional two-factor login (TOTP authenticator apps plus one-time backup codes), built on django-otp.

A user with a confirmed device is logged in only after the password AND a code (``views.LoginView``
then ``views.CodeView``); every other session of such a user that was not verified is dropped
(``middleware``, and ``asgi`` for websockets). ``ADMIN_2FA_REQUIRED`` makes enrolment compulsory for
administrators. API tokens are not touched: see docs/security.md for why.
"""

"""The API's username-and-password token exchange must not be a way round the second factor: it refuses
accounts that log in with a code (and administrators under ``ADMIN_2FA_REQUIRED``). Their integration
tokens are issued by an administrator instead (admin: Tokens, or ``manage.py drf_create_token``)."""

from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from . import policy


class TokenRequestSerializer(AuthTokenSerializer):
    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not policy.password_alone_suffices(attrs["user"]):
            raise serializers.ValidationError(
                "This account logs in with two-factor, so it cannot get a token with a password alone; an "
                "administrator issues integration tokens (admin: Tokens).", code="authorization")
        return attrs

"""Shared serializers of the operations API (resource serializers live beside their views)."""

from rest_framework import serializers

from api.models import ApiToken


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["prefix", "name", "scopes", "created_at", "expires_at", "last_used_at", "last_used_addr"]


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    token = TokenSerializer()
    permissions = serializers.ListField(child=serializers.CharField())

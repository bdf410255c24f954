"""The conversations app's API: contacts, tags, conversations (the inbox's list and actions), templates.

Each endpoint calls what the pages call: the inbox's ``InboxFilters`` / ``inbox_conversations`` and
``conversation_get_for_member`` for reads, ``conversations.services`` for every write.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from conversations import selectors, services
from conversations.inbox import selectors as inbox
from conversations.models import (
    ConsentSource,
    Contact,
    Conversation,
    LifecycleStage,
    Message,
    OptIn,
    Priority,
    Tag,
    TemplateStatus,
    WhatsAppTemplate,
)
from pytake.api.fields import OptionalEmailField
from pytake.api.views import ApiViewSet, ListMixin, RetrieveMixin

# --- Serializers: what the API shows ------------------------------------------------------------


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class ContactSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)
    email = OptionalEmailField(read_only=True)
    opt_in_source = serializers.ChoiceField(choices=ConsentSource.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "phone",
            "email",
            "tags",
            "lifecycle_stage",
            "opt_in",
            "opt_in_changed_at",
            "opt_in_source",
            "marketing_opt_in",
            "marketing_opt_in_changed_at",
            "is_blocked",
            "lead_score",
            "custom_fields",
            "last_message_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The membership id (use it to assign or transfer).")
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()

    def to_representation(self, membership):
        return {
            "id": membership.pk,
            "user_id": membership.user_id,
            "name": membership.user.get_full_name(),
            "email": membership.user.email,
        }


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactSerializer(read_only=True)
    assignee = AgentSerializer(read_only=True, allow_null=True)
    queue_id = serializers.IntegerField(read_only=True, allow_null=True)
    channel_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "channel_id",
            "queue_id",
            "assignee",
            "status",
            "priority",
            "subject",
            "created_at",
            "assigned_at",
            "first_response_at",
            "last_message_at",
            "last_inbound_at",
            "closed_at",
            "first_response_due_at",
            "resolution_due_at",
            "first_response_breached_at",
            "resolution_breached_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    author_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "author_type",
            "author_id",
            "kind",
            "body",
            "is_internal_note",
            "attachment_name",
            "attachment_content_type",
            "delivery_status",
            "error",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
        ]
        read_only_fields = fields


class TemplateSerializer(serializers.ModelSerializer):
    channel_id = serializers.IntegerField(read_only=True)
    quality_rating = serializers.CharField(read_only=True)

    class Meta:
        model = WhatsAppTemplate
        fields = [
            "id",
            "channel_id",
            "name",
            "language",
            "category",
            "status",
            "quality_rating",
            "components",
            "updated_at",
        ]
        read_only_fields = fields


# --- Serializers: what the API accepts -----------------------------------------------------------


def _tags(organization, ids) -> list[Tag]:
    found = list(Tag.objects.for_organization(organization).filter(pk__in=ids))
    if len(found) != len(set(ids)):
        raise exceptions.ValidationError({"tag_ids": [_("Choose tags of this organization.")]})
    return found


class ContactWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="E.164, e.g. +5511987654321"
    )
    email = serializers.EmailField(required=False, allow_blank=True)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    lead_score = serializers.IntegerField(min_value=0, max_value=100, required=False)
    custom_fields = serializers.DictField(required=False)
    tag_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100)


class ContactUpdateSerializer(ContactWriteSerializer):
    is_blocked = serializers.BooleanField(required=False)


class ConsentSerializer(serializers.Serializer):
    opt_in = serializers.ChoiceField(choices=OptIn.choices, required=False)
    marketing_opt_in = serializers.BooleanField(required=False)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TagWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False, default="#64748b")


class BodySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000, trim_whitespace=False)


class AssignSerializer(serializers.Serializer):
    agent_id = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="A membership id; empty: the caller."
    )


class TransferSerializer(serializers.Serializer):
    queue_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    agent_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)


class TemplateSendSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    contact_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    values = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True), required=False, default=dict
    )


class ConversationFilterSerializer(serializers.Serializer):
    """The inbox's filters (``/inbox/?view=…&status=…``), checked instead of silently defaulted."""

    view = serializers.ChoiceField(choices=inbox.VIEWS, required=False, default="all")
    status = serializers.ChoiceField(choices=inbox.STATUS_FILTERS, required=False, default="active")
    queue = serializers.IntegerField(min_value=1, required=False)
    department = serializers.IntegerField(min_value=1, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    q = serializers.CharField(max_length=inbox.SEARCH_MAX_LENGTH, required=False, allow_blank=True, default="")


class ContactFilterSerializer(serializers.Serializer):
    q = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    tag = serializers.IntegerField(min_value=1, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    opt_in = serializers.ChoiceField(choices=OptIn.choices, required=False)


def _query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Contacts ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List and search contacts", parameters=[ContactFilterSerializer]),
    retrieve=extend_schema(summary="A contact"),
)
@extend_schema(tags=["contacts"])
class ContactViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "contacts"
    serializer_class = ContactSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        if self.action == "list":
            found = _query(ContactFilterSerializer, self.request)
            return selectors.contact_list(
                organization=self.organization,
                q=found["q"],
                tag_id=found.get("tag"),
                lifecycle_stage=found.get("lifecycle_stage", ""),
                opt_in=found.get("opt_in", ""),
            )
        return Contact.objects.for_organization(self.organization).prefetch_related("tags")

    @extend_schema(summary="Create a contact", request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request):
        data = _body(ContactWriteSerializer, request)
        tags = _tags(self.organization, data.pop("tag_ids", []))
        contact = services.contact_create(organization=self.organization, tags=tags, **data)
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a contact", request=ContactUpdateSerializer, responses=ContactSerializer)
    def partial_update(self, request, pk=None):
        contact = self.get_object()
        data = _body(ContactUpdateSerializer, request)
        blocked = data.pop("is_blocked", None)
        if "tag_ids" in data:
            data["tags"] = _tags(self.organization, data.pop("tag_ids"))
        if data:
            contact = services.contact_update(contact=contact, by=request.user, **data)
        if blocked is not None:
            contact = services.contact_set_blocked(contact=contact, blocked=blocked, by=request.user)
        return Response(ContactSerializer(self.get_queryset().get(pk=contact.pk)).data)

    @extend_schema(summary="Delete a contact (and its conversations)", responses={204: None})
    def destroy(self, request, pk=None):
        contact = self.get_object()
        if not self.principal.is_admin:
            raise exceptions.PermissionDenied(_("Only organization admins may delete contacts."), code="role")
        services.contact_delete(contact=contact, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Record a consent change", request=ConsentSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def consent(self, request, pk=None):
        contact = self.get_object()
        data = _body(ConsentSerializer, request)
        if "opt_in" not in data and "marketing_opt_in" not in data:
            raise exceptions.ValidationError({"opt_in": [_("Give opt_in, marketing_opt_in or both.")]})
        if "opt_in" in data:
            contact = services.contact_set_opt_in(
                contact=contact, opt_in=data["opt_in"], source=ConsentSource.API, by=request.user, note=data["note"]
            )
        if "marketing_opt_in" in data:
            contact = services.contact_set_marketing_consent(
                contact=contact,
                granted=data["marketing_opt_in"],
                source=ConsentSource.API,
                by=request.user,
                note=data["note"],
            )
        return Response(ContactSerializer(self.get_queryset().get(pk=contact.pk)).data)


@extend_schema(tags=["contacts"])
@extend_schema_view(list=extend_schema(summary="List tags"))
class TagViewSet(ListMixin, ApiViewSet):
    scope = "contacts"
    serializer_class = TagSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        return selectors.tag_list(organization=self.organization)

    @extend_schema(summary="Create a tag", request=TagWriteSerializer, responses={201: TagSerializer})
    def create(self, request):
        data = _body(TagWriteSerializer, request)
        tag = services.tag_create(organization=self.organization, **data)
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)


# --- Conversations -----------------------------------------------------------------------------------


@extend_schema(tags=["conversations"])
@extend_schema_view(
    list=extend_schema(
        summary="List conversations with the inbox's filters (newest activity first)",
        parameters=[ConversationFilterSerializer],
    ),
    retrieve=extend_schema(summary="A conversation"),
)
class ConversationViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "conversations"
    serializer_class = ConversationSerializer
    ordering = ("-last_message_at", "-id")

    def get_queryset(self):
        found = _query(ConversationFilterSerializer, self.request)
        filters = inbox.InboxFilters(
            view=found["view"],
            status=found["status"],
            queue_id=found.get("queue"),
            department_id=found.get("department"),
            priority=found.get("priority", ""),
            q=" ".join(found["q"].split()),
        )
        return (
            inbox.inbox_conversations(
                organization=self.organization, membership=self.principal.membership, filters=filters
            )
            .select_related("contact", "queue", "assignee__user")
            .prefetch_related("contact__tags")
        )

    def _conversation(self, pk, *, acting: bool = False) -> Conversation:
        conversation = inbox.conversation_get_for_member(
            organization=self.organization, membership=self.principal.membership, conversation_id=pk, acting=acting
        )
        if conversation is None:
            raise exceptions.NotFound()
        return conversation

    def retrieve(self, request, pk=None):
        return Response(ConversationSerializer(self._conversation(pk)).data)

    def _answer(self, conversation: Conversation) -> Response:
        return Response(ConversationSerializer(self._conversation(conversation.pk)).data)

    def _actor(self):
        membership = self.principal.membership
        if membership is None:
            raise exceptions.PermissionDenied(_("Act as a member of this organization."), code="role")
        return membership

    @extend_schema(
        summary="The conversation's messages (newest first)",
        responses=MessageSerializer(many=True),
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
    )
    @action(detail=True, methods=["get"], serializer_class=MessageSerializer)
    def messages(self, request, pk=None):
        conversation = self._conversation(pk)
        paginator = self.paginator
        self.ordering = ("-id", "-id")
        rows = paginator.paginate_queryset(
            selectors.message_list(organization=self.organization, conversation=conversation), request, view=self
        )
        return paginator.get_paginated_response(MessageSerializer(rows, many=True).data)

    @extend_schema(summary="Reply to the customer", request=BodySerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"], serializer_class=MessageSerializer)
    def reply(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        message = services.message_send(
            conversation=conversation, author=self._actor(), body=_body(BodySerializer, request)["body"]
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Add an internal note", request=BodySerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"], serializer_class=MessageSerializer)
    def note(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        message = services.note_add(
            conversation=conversation, author=self._actor(), body=_body(BodySerializer, request)["body"]
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    def _agent(self, agent_id):
        agent = next((m for m in inbox.agent_choices(organization=self.organization) if m.pk == agent_id), None)
        if agent is None:
            raise exceptions.ValidationError({"agent_id": [_("Choose an active agent of this organization.")]})
        return agent

    @extend_schema(
        summary="Assign to an agent (or to the caller)", request=AssignSerializer, responses=ConversationSerializer
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        agent_id = _body(AssignSerializer, request).get("agent_id")
        target = self._agent(agent_id) if agent_id else self._actor()
        services.conversation_assign(conversation=conversation, membership=target, by=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Transfer to a queue and/or an agent", request=TransferSerializer, responses=ConversationSerializer
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        data = _body(TransferSerializer, request)
        queue = None
        if data.get("queue_id"):
            queue = next(
                (q for q in inbox.queue_choices(organization=self.organization) if q.pk == data["queue_id"]), None
            )
            if queue is None:
                raise exceptions.ValidationError({"queue_id": [_("Choose an active queue of this organization.")]})
        agent = self._agent(data["agent_id"]) if data.get("agent_id") else None
        if queue is None and agent is None:
            raise exceptions.ValidationError({"queue_id": [_("Give a queue, an agent or both.")]})
        services.conversation_transfer(
            conversation=conversation, by=request.user, to_queue=queue, to_membership=agent, reason=data["reason"]
        )
        return self._answer(conversation)

    @extend_schema(summary="Close", request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        services.conversation_close(conversation=conversation, by=request.user)
        return self._answer(conversation)

    @extend_schema(summary="Reopen", request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        services.conversation_reopen(conversation=conversation, by=request.user)
        return self._answer(conversation)

    @extend_schema(summary="Set the priority", request=PrioritySerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def priority(self, request, pk=None):
        conversation = self._conversation(pk, acting=True)
        services.conversation_set_priority(
            conversation=conversation, priority=_body(PrioritySerializer, request)["priority"], by=request.user
        )
        return self._answer(conversation)


# --- Templates ---------------------------------------------------------------------------------------


class TemplateFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TemplateStatus.choices, required=False)
    channel = serializers.IntegerField(min_value=1, required=False)


@extend_schema(tags=["templates"])
@extend_schema_view(
    list=extend_schema(summary="List WhatsApp templates", parameters=[TemplateFilterSerializer]),
    retrieve=extend_schema(summary="A template"),
)
class TemplateViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "templates"
    serializer_class = TemplateSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        found = _query(TemplateFilterSerializer, self.request) if self.action == "list" else {}
        channel = None
        if found.get("channel"):
            channel = selectors.channel_list(organization=self.organization).filter(pk=found["channel"]).first()
            if channel is None:
                return WhatsAppTemplate.objects.none()
        return selectors.template_list(organization=self.organization, channel=channel, status=found.get("status"))

    @extend_schema(
        summary="Send the template: in a conversation, or to a contact (or a phone), opening one",
        request=TemplateSendSerializer,
        responses={201: ConversationSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=ConversationSerializer)
    def send(self, request, pk=None):
        template = self.get_object()
        data = _body(TemplateSendSerializer, request)
        membership = self.principal.membership
        if membership is None:
            raise exceptions.PermissionDenied(_("Act as a member of this organization."), code="role")
        self.scope = "conversations"
        if not self.principal.has_scope("conversations", "write"):
            raise exceptions.PermissionDenied(_("This token lacks the scope conversations:write."), code="scope")
        values = {str(k): v for k, v in data["values"].items()}
        if data.get("conversation_id"):
            conversation = inbox.conversation_get_for_member(
                organization=self.organization,
                membership=membership,
                conversation_id=data["conversation_id"],
                acting=True,
            )
            if conversation is None:
                raise exceptions.ValidationError({"conversation_id": [_("No such conversation.")]})
            services.template_message_send(
                conversation=conversation, author=membership, template=template, values=values
            )
        else:
            contact = None
            if data.get("contact_id"):
                contact = selectors.contact_get(organization=self.organization, contact_id=data["contact_id"])
                if contact is None:
                    raise exceptions.ValidationError({"contact_id": [_("No such contact.")]})
            elif not data["phone"].strip():
                raise exceptions.ValidationError({"phone": [_("Give a conversation, a contact or a phone number.")]})
            conversation = services.conversation_start(
                organization=self.organization,
                author=membership,
                channel=template.channel,
                template=template,
                values=values,
                contact=contact,
                phone=data["phone"],
                name=data["name"],
            )
        fresh = selectors.conversation_get(organization=self.organization, conversation_id=conversation.pk)
        return Response(ConversationSerializer(fresh).data, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("contacts", ContactViewSet, basename="contact")
    router.register("tags", TagViewSet, basename="tag")
    router.register("conversations", ConversationViewSet, basename="conversation")
    router.register("templates", TemplateViewSet, basename="template")

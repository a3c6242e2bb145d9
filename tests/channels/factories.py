import factory

from channels.models import Message, MessageTemplate
from compliance.models import Topic


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    key = factory.Sequence(lambda n: f"email-{n}")
    name = factory.Sequence(lambda n: f"Spring sale {n}")
    channel = "email"
    category = "marketing"
    topic = factory.LazyFunction(lambda: Topic.objects.get(key="offers"))
    subject = "Hello {{ first_name }}"
    preheader = "20% off this week"
    body_html = "<h1>Hi {{ first_name }}</h1><p>Sale on {{ event.product }}.</p>{{ footer }}"
    body_text = "Hi {{ first_name }}, sale on {{ event.product }}.\n{{ footer }}"


class SmsTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    key = factory.Sequence(lambda n: f"sms-{n}")
    name = factory.Sequence(lambda n: f"Flash sale text {n}")
    channel = "sms"
    category = "marketing"
    topic = factory.LazyFunction(lambda: Topic.objects.get(key="offers"))
    sms_body = "{{ brand }}: hi {{ first_name }}, 20% off today https://shop.example.com/sale"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    profile = factory.SubFactory("tests.factories.ProfileFactory")
    template = factory.SubFactory(EmailTemplateFactory)
    channel = factory.LazyAttribute(lambda m: m.template.channel)
    category = factory.LazyAttribute(lambda m: m.template.category)
    topic = factory.LazyAttribute(lambda m: m.template.topic)
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")

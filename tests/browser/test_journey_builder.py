"""A marketer installs the seed flows, activates the abandoned cart and sees its diagram."""

import pytest
from django.core.management import call_command

from journeys.models import Journey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_activate_the_cart_flow_and_read_its_diagram(admin_login, live_server):
    call_command("install_journey_templates", verbosity=0)
    page = admin_login()
    page.goto(f"{live_server.url}/admin/journeys/journey/")
    row = page.locator("tr", has_text="Abandoned cart")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "activate")
    page.click("button[name=index]")
    assert "Abandoned cart is active on version 1." in page.locator(".messagelist").inner_text()

    page.locator("#result_list a", has_text="Abandoned cart").click()
    diagram = page.locator("svg.journey-diagram")
    diagram.wait_for(state="visible")
    assert diagram.locator("g.step").count() == 8
    assert "Send SMS: cart-nudge unless cart-email was" in diagram.text_content()
    overflowing = diagram.evaluate(
        """svg => [...svg.querySelectorAll("g.step")].flatMap(step => {
            const box = step.querySelector("rect").getBBox();
            return [...step.querySelectorAll("text")]
                .filter(text => text.getBBox().x + text.getBBox().width > box.x + box.width)
                .map(text => text.textContent);
        })"""
    )
    assert overflowing == []  # a long label is cut inside its box; the tooltip has it whole
    assert "None: ready to publish." in page.locator(".field-problems").inner_text()
    assert Journey.objects.get(template_key="abandoned-cart").status == "active"


def test_a_step_is_edited_with_its_own_fields_and_the_dry_run_explains(admin_login, live_server):
    from tests.factories import ProfileFactory

    call_command("install_journey_templates", verbosity=0)
    person = ProfileFactory(email="dry@example.com")
    journey = Journey.objects.get(template_key="vip")
    page = admin_login()
    page.goto(f"{live_server.url}/admin/journeys/journey/{journey.pk}/change/")
    page.click("text=Dry run")
    page.fill("#id_profile", str(person.pk))
    page.click("input[type=submit]")
    table = page.locator("#content table").inner_text()
    assert "vip-sms" in table and "consent_never" in table

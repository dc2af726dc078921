"""A Pulumi program declaring only ``TenantPortal`` (tests/components/test_portal.py runs it under
mocks: the whole stack would take seconds more for the same resources). ``test:apiUrl`` is the API."""

import pulumi

from components.config import parse_stack_config
from components.portal import TenantPortal, TenantPortalArgs

portal_settings = pulumi.Config("hookstack").get_object("portal")
config = parse_stack_config({"portal": portal_settings} if portal_settings else {})
api_url = pulumi.Config("test").require_object("apiUrl")
portal = TenantPortal("hookstack-portal", TenantPortalArgs(settings=config.portal))
portal.publish_config(api_url)  # as __main__.py does, once the API (which allows portal.origin) exists
pulumi.export("portalUrl", portal.url)

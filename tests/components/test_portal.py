"""``TenantPortal`` under Pulumi mocks: a private bucket behind CloudFront with origin access control,
the security headers, and the static files uploaded with their content types."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.config import PORTAL_KEYS, THEME_VARIABLES, PortalSettings, StackConfigError, parse_stack_config
from components.config.portal import MAX_FRAME_ANCESTORS, MAX_FRAME_ANCESTORS_CHARS
from components.specs.portal import (
    MAX_CSP_CHARS,
    PORTAL_DIR,
    content_security_policy,
    execute_api_source,
    portal_config,
    portal_files,
    security_headers,
)
from tests.harness import REGION, Program, run_program

PROGRAM = Path(__file__).with_name("portal_program.py")  # TenantPortal alone
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/"
CONFIG: dict[str, Any] = {
    "test:apiUrl": API_URL,
    "hookstack:portal": {"frameAncestors": ["https://app.example.com"], "theme": {"accent": "#0a6"}},
}


@pytest.fixture(scope="module")
def program() -> Program:
    return run_program(CONFIG, program=PROGRAM)


def _policy(program: Program) -> dict[str, Any]:
    bucket = program.one("aws:s3/bucketPolicy:BucketPolicy", lambda r: r.name.startswith("hookstack-portal"))
    return dict(json.loads(bucket.state["policy"]))


def test_the_bucket_is_private_encrypted_owner_enforced_and_tls_only(program: Program) -> None:
    block = program.named("hookstack-portal-site-public-access").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert program.named("hookstack-portal-site-ownership").inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    rule = program.named("hookstack-portal-site-encryption").inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    statements = {s["Sid"]: s for s in _policy(program)["Statement"]}
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    read = statements["CloudFrontReadsThroughOriginAccessControl"]
    distribution = program.named("hookstack-portal-cdn")
    # Only CloudFront, only this distribution, only reads: no public principal anywhere.
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == "s3:GetObject"
    assert read["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution.state["arn"]}}
    assert all(s["Principal"] != "*" for s in statements.values() if s["Effect"] == "Allow")


def test_cloudfront_reaches_the_bucket_through_origin_access_control_not_an_identity(program: Program) -> None:
    oac = program.one("aws:cloudfront/originAccessControl:OriginAccessControl")
    assert (
        oac.inputs["originAccessControlOriginType"],
        oac.inputs["signingBehavior"],
        oac.inputs["signingProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    assert not program.of_type("aws:cloudfront/originAccessIdentity:OriginAccessIdentity")
    distribution = program.named("hookstack-portal-cdn").inputs
    (origin,) = distribution["origins"]
    assert origin["originAccessControlId"] == oac.state.get("id", origin["originAccessControlId"])
    assert "s3OriginConfig" not in origin  # the legacy OAI block
    assert origin["domainName"].endswith(f".s3.{REGION}.amazonaws.com")
    assert distribution["defaultRootObject"] == "index.html"
    behaviour = distribution["defaultCacheBehavior"]
    assert behaviour["viewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["allowedMethods"] == ["GET", "HEAD"]
    # The managed CachingOptimized policy: the magic link's ?token= is in no cache key, no origin request.
    assert behaviour["cachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert "forwardedValues" not in behaviour


def test_the_security_headers_policy_is_the_one_the_sandbox_serves(program: Program) -> None:
    config = program.named("hookstack-portal-headers").inputs["securityHeadersConfig"]
    expected = security_headers(execute_api_source(REGION), ("https://app.example.com",))
    csp = config["contentSecurityPolicy"]["contentSecurityPolicy"]
    assert csp == expected["Content-Security-Policy"]
    assert "frame-ancestors https://app.example.com" in csp and "script-src 'self'" in csp
    assert f"connect-src 'self' https://*.execute-api.{REGION}.amazonaws.com" in csp
    assert config["strictTransportSecurity"]["accessControlMaxAgeSec"] == 63_072_000
    assert config["contentTypeOptions"]["override"] is True
    assert config["referrerPolicy"]["referrerPolicy"] == "no-referrer"
    # Embedders configured: X-Frame-Options (which cannot name them) is left to CSP.
    assert "frameOptions" not in config and "X-Frame-Options" not in expected
    assert all(v["override"] is True for v in config.values())


def test_every_portal_file_is_uploaded_with_its_content_type_and_config_json_points_at_the_api(
    program: Program,
) -> None:
    objects = {o.inputs["key"]: o.inputs for o in program.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    files = portal_files()
    assert set(objects) == {key for key, _, _ in files} | {"config.json"}
    assert {"index.html", "js/main.js", "css/portal.css"} <= set(objects)
    for key, _, content_type in files:
        assert objects[key]["contentType"] == content_type
    assert objects["js/main.js"]["contentType"].startswith("text/javascript")
    config = json.loads(objects["config.json"]["content"])
    assert config["apiBaseUrl"] == API_URL.rstrip("/")
    assert config["theme"] == {"accent": "#0a6"}
    assert objects["config.json"]["cacheControl"] == "no-cache"
    assert program.outputs["portalUrl"] == f"https://{program.named('hookstack-portal-cdn').state['domainName']}/"


def test_the_portal_follows_the_delivery_pipeline_and_can_be_switched_off() -> None:
    assert parse_stack_config({}).portal.enabled is True
    assert parse_stack_config({"delivery": {"enabled": False}}).portal.enabled is False
    assert parse_stack_config({"portal": {"enabled": False}}).portal.enabled is False
    with pytest.raises(StackConfigError, match=r"hookstack:portal.enabled: is true, but hookstack:delivery.enabled"):
        parse_stack_config({"delivery": {"enabled": False}, "portal": {"enabled": True}})


@pytest.mark.parametrize(
    ("portal", "message"),
    [
        ({"frameAncestors": ["http://app.example.com"]}, r"portal.frameAncestors\[0\]: must be an https origin"),
        ({"frameAncestors": ["https://app.example.com/path"]}, r"portal.frameAncestors\[0\]: must be an https origin"),
        ({"frameAncestors": ["https:"]}, r"portal.frameAncestors\[0\]"),
        ({"frameAncestors": ["*"]}, r"portal.frameAncestors\[0\]"),
        ({"theme": {"accent": "red; background: url(x)"}}, r"portal.theme.accent: must be a CSS value"),
        ({"theme": {"logo": "x"}}, r"portal.theme.logo: unknown theme variable"),
        ({"surprise": 1}, r"hookstack:portal.surprise"),
    ],
)
def test_bad_portal_settings_are_refused_by_key(portal: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        parse_stack_config({"portal": portal})


def test_the_longest_allowed_policy_fits_cloudfronts_csp_quota() -> None:
    # As many origins as allowed, as long as allowed together (config accepts them), on a long region.
    length = (MAX_FRAME_ANCESTORS_CHARS + 1) // MAX_FRAME_ANCESTORS - 1
    origins = [f"https://{index:02d}{'a' * (length - 14)}.com" for index in range(MAX_FRAME_ANCESTORS)]
    assert len(" ".join(origins)) <= MAX_FRAME_ANCESTORS_CHARS
    assert parse_stack_config({"portal": {"frameAncestors": origins}}).portal.frame_ancestors == tuple(origins)
    longest = content_security_policy(execute_api_source("ap-southeast-5-long-region"), origins)
    assert len(longest) <= MAX_CSP_CHARS
    with pytest.raises(StackConfigError, match=r"portal\.frameAncestors: must have at most"):
        parse_stack_config({"portal": {"frameAncestors": [*origins[:-1], origins[-1] + "x" * 60]}})


def test_config_json_carries_only_the_api_and_the_theme() -> None:
    settings = PortalSettings(theme=(("fg", "#111"),))
    assert json.loads(portal_config("https://api.example.com/", settings)) == {
        "apiBaseUrl": "https://api.example.com",
        "theme": {"fg": "#111"},
    }


def test_the_readme_documents_every_portal_key_and_the_output() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [key for key in PORTAL_KEYS if f"| `portal.{key}` |" not in readme]
    assert not missing, f"README's hookstack:portal table lacks: {missing}"
    assert "| `portalUrl` |" in readme
    # The theme variables the README lists are the ones config.json may set.
    row = next(line for line in readme.splitlines() if line.startswith("| `portal.theme` |"))
    assert all(f"`{name}`" in row for name in THEME_VARIABLES)


def test_the_page_applies_exactly_the_theme_variables_the_config_accepts() -> None:
    main_js = (PORTAL_DIR / "js" / "main.js").read_text()
    listed = re.search(r"const THEME_VARIABLES = \[(.*?)\];", main_js, re.S)
    assert listed, "portal/js/main.js must list THEME_VARIABLES"
    assert tuple(re.findall(r'"([a-z-]+)"', listed.group(1))) == THEME_VARIABLES
    css = (PORTAL_DIR / "css" / "portal.css").read_text()
    assert all(f"--hs-{name}:" in css for name in THEME_VARIABLES)  # each has a default


def test_the_program_wires_the_portal_to_the_self_service_api_and_its_cors() -> None:
    program = run_program({"hookstack:tenants": [{"id": "acme"}]})
    (config,) = [o for o in program.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.inputs["key"] == "config.json"]
    assert json.loads(config.inputs["content"])["apiBaseUrl"] == program.outputs["selfServiceApiUrl"]
    portal_origin = program.outputs["portalUrl"].rstrip("/")
    api = program.named("hookstack-delivery-self-service-http").inputs
    assert api["corsConfiguration"]["allowOrigins"] == [portal_origin]
    assert portal_origin.startswith("https://") and portal_origin.endswith(".cloudfront.net")
